"""Help > Keyboard shortcuts…: keys changed in the dialog apply at once, persist in
the (test-scoped) QSettings, come back at start-up; conflicts are refused, by name."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.settings import Settings
from app.window.shortcuts import ShortcutDialog, effective_keys


def act(w, name) -> QAction:
    return w.findChild(QAction, name)


def keys(w, name) -> list[str]:
    return [s.toString(QKeySequence.PortableText) for s in act(w, name).shortcuts()]


def open_dialog(qtbot, w) -> ShortcutDialog:
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    QTest.keyClick(w, Qt.Key_F1)  # the key the help always had
    dlg = w.shortcut_dialog
    assert isinstance(dlg, ShortcutDialog) and dlg.objectName() == "shortcutsDialog"
    qtbot.waitUntil(dlg.isVisible, timeout=5000)
    return dlg


def type_key(qtbot, dlg, name, slot, key, mods=Qt.NoModifier) -> None:
    dlg.select(name)
    edit = dlg.edits[slot]
    edit.setFocus()
    QTest.keyClick(edit, key, mods)


def ok(dlg) -> None:
    QTest.mouseClick(dlg.buttons.button(QDialogButtonBox.Ok), Qt.LeftButton)


def test_dialog_lists_every_action_with_its_keys(qtbot, make_window):
    w = make_window()
    dlg = open_dialog(qtbot, w)
    rows = {dlg.table.item(r, 1).text(): dlg.table.item(r, 2).text()
            for r in range(dlg.table.rowCount())}
    assert rows["Accept instance"] == "A" and rows["Next image"] == "D, PgDown"
    assert rows["Zoom in"] == "+, =, Ctrl++, Ctrl+=" and rows["Class 3"] == "3"
    assert rows["Keyboard shortcuts"] == "F1"
    dlg.filter_edit.setText("zoom")
    shown = [dlg.table.item(r, 1).text() for r in range(dlg.table.rowCount())
             if not dlg.table.isRowHidden(r)]
    assert shown == ["Zoom in", "Zoom out"]
    dlg.reject()


def test_a_changed_key_applies_persists_and_returns_at_start_up(qtbot, make_window, settings):
    w = make_window()
    dlg = open_dialog(qtbot, w)
    type_key(qtbot, dlg, "actionFit", 0, Qt.Key_G)  # F -> G, typed into the editor
    type_key(qtbot, dlg, "actionNextImage", 1, Qt.Key_Right, Qt.ControlModifier)  # PgDown ->
    assert keys(w, "actionFit") == ["F"]  # nothing changes before OK
    ok(dlg)
    assert keys(w, "actionFit") == ["G"] and keys(w, "actionNextImage") == ["D", "Ctrl+Right"]
    assert "(G)" in act(w, "actionFit").toolTip()
    stored = Settings.load(QSettings(settings.fileName(), QSettings.IniFormat)).shortcuts
    assert stored == {"actionFit": ["G"], "actionNextImage": ["D", "Ctrl+Right"]}  # changes only
    assert "actionFit=G" in Path(settings.fileName()).read_text()  # on disk, not just cached
    w.close()
    w2 = make_window()
    assert keys(w2, "actionFit") == ["G"] and keys(w2, "actionNextImage") == ["D", "Ctrl+Right"]
    w2.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w2, timeout=5000)
    fired = []
    act(w2, "actionFit").triggered.connect(lambda: fired.append(1))
    QTest.keyClick(w2.canvas, Qt.Key_G)
    QTest.keyClick(w2.canvas, Qt.Key_F)  # F is free now
    assert fired == [1]


def test_a_conflicting_key_is_named_and_not_applied(qtbot, make_window, settings):
    w = make_window()
    dlg = open_dialog(qtbot, w)
    type_key(qtbot, dlg, "actionFit", 0, Qt.Key_A)
    assert "A is already Review → Accept instance" in dlg.message.text()
    assert dlg.edits[0].keySequence().toString() == "F"  # the editor shows what it keeps
    type_key(qtbot, dlg, "actionFit", 1, Qt.Key_Backtab, Qt.ShiftModifier)  # Shift+Tab
    assert "Tab" in dlg.message.text() and "focus" in dlg.message.text()
    assert dlg.set_keys("actionFit", [QKeySequence("Tab")]) is not None
    assert dlg.set_keys("actionFit", [QKeySequence("Space")]) is not None
    assert dlg.set_keys("actionZoomOut", [QKeySequence("Ctrl+S")]) is not None
    ok(dlg)
    assert keys(w, "actionFit") == ["F"] and keys(w, "actionAccept") == ["A"]
    assert keys(w, "actionZoomOut") == ["-", "Ctrl+-"]
    fresh = QSettings(settings.fileName(), QSettings.IniFormat)
    fresh.beginGroup("shortcuts")
    assert fresh.childKeys() == []


def test_a_freed_key_can_move_and_reset_restores_the_defaults(qtbot, make_window, settings):
    w = make_window()
    dlg = open_dialog(qtbot, w)
    assert dlg.set_keys("actionAccept", [QKeySequence("Ctrl+Return")]) is None
    assert dlg.set_keys("actionFit", [QKeySequence("A")]) is None  # A is free now
    dlg.select("actionDeleteInstance")
    dlg.edits[0].clear()  # the clear button: no key at all
    ok(dlg)
    assert keys(w, "actionFit") == ["A"] and keys(w, "actionAccept") == ["Ctrl+Return"]
    assert keys(w, "actionDeleteInstance") == []
    assert Settings.load(QSettings(settings.fileName(), QSettings.IniFormat)).shortcuts == {
        "actionAccept": ["Ctrl+Return"], "actionFit": ["A"], "actionDeleteInstance": []}
    dlg = open_dialog(qtbot, w)
    QTest.mouseClick(dlg.buttons.button(QDialogButtonBox.RestoreDefaults), Qt.LeftButton)
    ok(dlg)
    assert keys(w, "actionFit") == ["F"] and keys(w, "actionAccept") == ["A"]
    assert keys(w, "actionDeleteInstance") == ["Del"]
    fresh = QSettings(settings.fileName(), QSettings.IniFormat)
    fresh.beginGroup("shortcuts")
    assert fresh.childKeys() == []


def test_stored_keys_win_over_a_default_and_bad_ones_are_dropped(make_window, settings):
    """Settings written by hand or by another version: a changed key takes its key from
    the default holder; a reserved key or one two changed actions claim is dropped."""
    settings.setValue("shortcuts/actionFit", ["A", "Tab"])
    settings.setValue("shortcuts/actionZoomIn", ["A", "Ctrl+,"])
    settings.setValue("shortcuts/actionGone", ["Z"])  # an action this version lacks
    keys_, notes = effective_keys(Settings.load(settings).shortcuts)
    assert keys_["actionAccept"] == [] and keys_["actionFit"] == [QKeySequence("A")]
    assert keys_["actionZoomIn"] == [QKeySequence("Ctrl+,")]
    assert len(notes) == 3 and any("Accept instance" in n for n in notes)
    w = make_window()
    assert keys(w, "actionFit") == ["A"] and keys(w, "actionAccept") == []
    assert "Accept instance" in w.statusBar().currentMessage()
