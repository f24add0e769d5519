"""GUI conventions, driven by real key and drop events: Tab moves the focus (and steps
through instances only on the canvas and the instance list), several dropped files
open together, the image list is in natural order and keeps the review state visible,
and + / - zoom about the centre of the view."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog

from tests.app.conftest import Answers, open_and_show
from tests.helpers import make_coco, write_image


def act(w, name) -> QAction:
    return w.findChild(QAction, name)


def activate(qtbot, w) -> None:
    """Window shortcuts fire only in the active window."""
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)


def focus(qtbot, widget) -> None:
    widget.setFocus(Qt.OtherFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


@pytest.fixture
def coco_win(qtbot, make_window, tmp_path):
    """A window showing image 0 of a COCO file: three listed instances, none selected."""
    w = make_window()
    open_and_show(qtbot, w, make_coco(tmp_path))
    activate(qtbot, w)
    assert len(w.doc.listed(w.doc.current)) == 3
    return w


def listed(w):
    return w.doc.listed(w.doc.current)


# ----------------------------------------------------------------------- Tab
def test_no_action_holds_tab_and_the_default_keys_never_collide(make_window):
    w = make_window()
    owners: dict[str, str] = {}
    for a in w.findChildren(QAction):
        for seq in a.shortcuts():
            text = seq.toString(QKeySequence.PortableText)
            assert seq[0].key() not in (Qt.Key_Tab, Qt.Key_Backtab), a.objectName()
            assert text not in owners, f"{text}: {owners.get(text)} and {a.objectName()}"
            owners[text] = a.objectName()
    assert owners["."] == "actionNextInstance" and owners[","] == "actionPrevInstance"


def test_tab_on_the_canvas_steps_through_instances(qtbot, coco_win):
    w = coco_win
    focus(qtbot, w.canvas)
    QTest.keyClick(w.canvas, Qt.Key_Tab)
    assert w.doc.selected is listed(w)[0]
    QTest.keyClick(w.canvas, Qt.Key_Tab)
    assert w.doc.selected is listed(w)[1]
    QTest.keyClick(w.canvas, Qt.Key_Backtab, Qt.ShiftModifier)
    assert w.doc.selected is listed(w)[0]
    assert w.canvas.hasFocus()  # Tab stayed on the canvas
    QTest.keyClick(w.canvas, Qt.Key_Tab, Qt.ControlModifier)  # Ctrl+Tab: the focus moves on
    assert not w.canvas.hasFocus() and w.doc.selected is listed(w)[0]


def test_tab_in_the_instance_list_steps_through_instances(qtbot, coco_win):
    w = coco_win
    table = w.instance_table
    focus(qtbot, table)
    QTest.keyClick(table, Qt.Key_Tab)
    assert w.doc.selected is listed(w)[0]
    QTest.keyClick(table, Qt.Key_Tab)
    assert w.doc.selected is listed(w)[1] and table.currentRow() == 1
    QTest.keyClick(table, Qt.Key_Backtab, Qt.ShiftModifier)
    assert w.doc.selected is listed(w)[0] and table.hasFocus()
    QTest.keyClick(table, Qt.Key_Tab, Qt.ControlModifier)  # Ctrl+Tab: the focus moves on
    assert not table.hasFocus() and w.doc.selected is listed(w)[0]


def test_tab_elsewhere_moves_the_focus_and_selects_nothing(qtbot, coco_win):
    w = coco_win
    edit, combo = w.image_panel.filter_edit, w.image_panel.state_combo
    focus(qtbot, edit)
    QTest.keyClick(edit, Qt.Key_Tab)
    assert combo.hasFocus()
    QTest.keyClick(combo, Qt.Key_Backtab, Qt.ShiftModifier)
    assert edit.hasFocus()
    view = w.image_panel.view
    focus(qtbot, view)
    QTest.keyClick(view, Qt.Key_Tab)
    assert not view.hasFocus()
    assert w.doc.selected is None  # no instance was stepped to


def test_period_and_comma_step_from_anywhere(qtbot, coco_win):
    w = coco_win
    view = w.image_panel.view
    focus(qtbot, view)
    QTest.keyClick(view, Qt.Key_Period)
    assert w.doc.selected is listed(w)[0]
    QTest.keyClick(view, Qt.Key_Period)
    assert w.doc.selected is listed(w)[1]
    QTest.keyClick(view, Qt.Key_Comma)
    assert w.doc.selected is listed(w)[0]
    focus(qtbot, w.image_panel.filter_edit)  # a text field types them instead
    QTest.keyClick(w.image_panel.filter_edit, Qt.Key_Period)
    assert w.image_panel.filter_edit.text() == "." and w.doc.selected is listed(w)[0]


def test_tab_cycles_the_click_tool_offer_before_stepping(qtbot, coco_win):
    """Click to instance keeps Tab for its alternatives while it offers one."""
    w = coco_win
    offers = [object(), object()]
    assist = w.toolbox.assist
    state = {"k": 0, "cycled": 0}
    assist.offered = lambda: offers[state["k"]] if state["k"] is not None else None

    def cycle():
        state["cycled"] += 1
        state["k"] = (state["k"] + 1) % 2
    assist.cycle = cycle
    assist.cancel_offer = lambda: state.update(k=None)
    act(w, "actionClickToSegment").trigger()
    focus(qtbot, w.canvas)
    QTest.keyClick(w.canvas, Qt.Key_Tab)
    assert state["cycled"] == 1 and w.doc.selected is None  # the offer cycled, nothing else
    state["k"] = None  # no offer: Tab is next instance again
    QTest.keyClick(w.canvas, Qt.Key_Tab)
    assert state["cycled"] == 1 and w.doc.selected is listed(w)[0]
    act(w, "actionSelectTool").trigger()


# ------------------------------------------------------------ drag and drop
def drop(w, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    w.dropEvent(event)
    assert event.isAccepted()


def names(w):
    return [r.file_name for r in w.doc.dataset.images]


def test_dropped_images_of_one_folder_open_as_one_dataset(qtbot, make_window, tmp_path):
    d = tmp_path / "shots"
    d.mkdir()
    files = [write_image(d / f"img{k}.png", seed=k) for k in (10, 2, 1)]
    write_image(d / "not_dropped.png")
    w = make_window()
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, files)
    assert names(w) == ["img1.png", "img2.png", "img10.png"]  # natural order
    assert w.doc.dataset.image_root == d
    assert w.session.default_save_path() == d / "annotations.json"
    assert w.windowTitle().startswith("shots")


def test_dropped_images_of_several_folders_root_at_their_common_folder(qtbot, make_window,
                                                                        tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "sub").mkdir(parents=True)
    files = [write_image(tmp_path / "b" / "sub" / "y.png"), write_image(tmp_path / "a" / "x.png")]
    w = make_window()
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, files)
    assert w.doc.dataset.image_root == tmp_path
    assert names(w) == ["a/x.png", "b/sub/y.png"]


def test_a_coco_file_and_images_ask_which_one(qtbot, make_window, tmp_path, monkeypatch):
    coco = make_coco(tmp_path)
    imgs = sorted((tmp_path / "imgs").glob("*.png"))
    asked = []

    def choose(_parent, title, _text, labels, current, editable):
        asked.append(list(labels))
        return next(label for label in labels if "json" in label), True

    monkeypatch.setattr(QInputDialog, "getItem", choose)
    w = make_window()
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, [coco, *imgs])
    assert asked[0][0] == "The 2 images, as one dataset" and len(asked[0]) == 2
    assert w.session.coco_path == coco.resolve() and len(w.doc.dataset.images) == 2
    # the other choice: the images alone, rooted at their folder
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a: (a[3][0], True))
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, [*imgs, coco])
    assert w.session.coco_path is None and w.doc.dataset.image_root == tmp_path / "imgs"


def test_two_json_files_ask_and_cancel_opens_nothing(qtbot, make_window, tmp_path,
                                                     monkeypatch):
    coco = make_coco(tmp_path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(json.loads(coco.read_text())))
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem",
                        lambda _p, _t, _x, labels, *_a: (asked.append(labels), ("", False))[1])
    w = make_window()
    drop(w, [coco, other])
    assert len(asked) == 1 and len(asked[0]) == 2 and w.doc.dataset is None


def test_a_drop_asks_about_unsaved_changes_first(qtbot, make_window, tmp_path, folder):
    answers = Answers({"Unsaved changes": "Cancel"})
    w = make_window(answers=answers)
    open_and_show(qtbot, w, make_coco(tmp_path))
    w.doc.select(listed(w)[0])
    act(w, "actionDeleteInstance").trigger()
    assert w.doc.dirty
    drop(w, [folder / "img0.png", folder / "img1.png"])
    assert answers.asked == ["Unsaved changes"]
    assert w.session.coco_path is not None and w.doc.dirty  # cancelled: nothing changed
    answers.by_title["Unsaved changes"] = "Discard"
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, [folder / "img0.png", folder / "img1.png"])
    assert names(w) == ["img0.png", "img1.png"] and not w.doc.dirty


# ------------------------------------------------------------ the image list
def test_a_folder_lists_naturally(qtbot, make_window, tmp_path):
    d = tmp_path / "nat"
    d.mkdir()
    for name in ("image10.png", "Image2.png", "image1.png", "image2b.png"):
        write_image(d / name)
    w = make_window()
    open_and_show(qtbot, w, d)
    view = w.image_panel.view
    shown = [view.model().index(r, 0).data(Qt.UserRole) for r in range(4)]
    assert shown == ["image1.png", "Image2.png", "image2b.png", "image10.png"]


def test_a_long_name_is_elided_in_the_middle_and_the_state_stays(qtbot, make_window, tmp_path):
    from PySide6.QtWidgets import QStyleOptionViewItem

    from model.data.annotations import Dataset
    long = "plate07/" + "microscope_session_2024_" * 6 + "well_B12_field_0003.png"
    ds = Dataset(image_root="/nonexistent")
    ds.add_image(long)
    ds.add_image("img2.png")
    ds.images[0].status = "done"
    w = make_window()
    w.doc.set_dataset(ds)
    view = w.image_panel.view
    w.image_panel.parentWidget().resize(260, 400)
    w.resizeDocks([w.docks[0]], [260], Qt.Horizontal)
    qtbot.waitUntil(lambda: view.viewport().width() < 400, timeout=5000)
    idx = view.model().index(0, 0)
    rect = view.visualRect(idx)
    assert rect.right() <= view.viewport().width()  # no row wider than the view
    assert view.horizontalScrollBar().maximum() == 0
    opt = QStyleOptionViewItem()
    opt.initFrom(view)
    opt.rect, opt.font = rect, view.font()
    opt.fontMetrics = view.fontMetrics()
    name, detail, name_rect, detail_rect = w.image_panel.delegate.layout(opt, idx)
    assert detail == "0 · done" and detail_rect.right() <= view.viewport().width()
    assert "…" in name and name.endswith("0003.png") and name.startswith("plate07/")
    assert name_rect.right() < detail_rect.left()
    shot = view.viewport().grab()
    shot.save(str(tmp_path / "image_list.png"))  # what a person would see
    image = shot.toImage()
    ratio = shot.devicePixelRatio()
    inked = [x for x in range(int(detail_rect.left() * ratio), int(detail_rect.right() * ratio))
             for y in range(int(detail_rect.top() * ratio), int(detail_rect.bottom() * ratio))
             if image.pixelColor(x, y).lightness() < 128]
    assert inked, "the state text is painted"


# --------------------------------------------------------------- keyboard zoom
def centre(w):
    return w.canvas.mapToScene(w.canvas.viewport().rect().center())


@pytest.mark.parametrize("key, mods, factor", [
    (Qt.Key_Plus, Qt.NoModifier, 1.2), (Qt.Key_Equal, Qt.NoModifier, 1.2),
    (Qt.Key_Minus, Qt.NoModifier, 1 / 1.2), (Qt.Key_Plus, Qt.ControlModifier, 1.2),
    (Qt.Key_Minus, Qt.ControlModifier, 1 / 1.2)])
def test_plus_and_minus_zoom_about_the_centre(qtbot, coco_win, key, mods, factor):
    w = coco_win
    focus(qtbot, w.canvas)
    w.canvas.set_zoom(2.0)
    w.canvas.centerOn(30, 20)
    before, z = centre(w), w.canvas.zoom()
    QTest.keyClick(w.canvas, key, mods)
    assert w.canvas.zoom() == pytest.approx(z * factor)
    after = centre(w)
    assert abs(after.x() - before.x()) < 1.5 and abs(after.y() - before.y()) < 1.5
    QTest.keyClick(w.canvas, Qt.Key_F)  # Fit
    h, wd = w.canvas.rgb.shape[:2]
    view = w.canvas.viewport().rect()
    assert w.canvas.zoom() == pytest.approx(min(view.width() / wd, view.height() / h), rel=0.05)


def test_a_dropped_set_is_recovered_as_the_same_set(qtbot, make_window, folder):
    """After a crash, the recovery copy is laid over the dropped images, not over their
    whole folder."""
    answers = Answers({"Recover unsaved work?": "Restore"})
    w = make_window(answers=answers, load_model=False)
    files = [folder / "img2.png", folder / "img0.png"]
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, files)
    w.review.mark_done()
    assert w.doc.dirty and w.doc.dataset.images[0].status == "done"
    assert w.session.autosave(wait=True) is not None
    w.doc.mark_saved()  # as if the window had died: the recovery copy is left behind
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        drop(w, files)
    assert "Recover unsaved work?" in answers.asked
    assert names(w) == ["img0.png", "img2.png"]  # the set, not the folder's four images
    assert w.doc.dataset.images[0].status == "done" and w.doc.dirty
