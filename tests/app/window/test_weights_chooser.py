"""The toolbar's Weights chooser (issue 28, items 3 and 4): a checkpoint that fails to
load is not listed, and a dataset's fine-tuned versions are listed by name, after a
restart too. Driven through the real menu, file dialog and combo box."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from model.training.versions import VersionRegistry
from tests.app.conftest import FakePredictor, open_and_show, wait_model
from tests.app.window.test_window_layout import click_menu_item
from tests.helpers import write_image


def entries(combo) -> dict[str, str]:
    return {combo.itemText(i): combo.itemData(i) for i in range(combo.count())}


def pick(qtbot, combo, text) -> None:
    """Open the chooser and click the entry, as a person does."""
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    index = combo.model().index(combo.findText(text), 0)
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.visualRect(index).center())


def test_a_checkpoint_that_fails_to_load_is_not_listed(qtbot, make_window, tmp_path, fake,
                                                      monkeypatch):
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"\x80\x02 not a checkpoint, cut short")

    def factory(**kw):
        if str(kw["weights"]).endswith(".pt"):
            raise RuntimeError(f"{kw['weights']}: not a readable PyTorch weights file")
        return FakePredictor(fake, **kw)
    w = make_window(factory=factory)
    wait_model(qtbot, w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    combo = w.model_controls.weights_combo
    listed = entries(combo)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    with qtbot.waitSignal(w.inference.modelFailed, timeout=30_000):
        click_menu_item(qtbot, w, "Model", w.actions_["actionOpenCheckpoint"])
    level, _title, text = w.notifier.history[-1]
    assert level == "warning" and "garbage.pt" in text and "Still using fake:fake" in text
    assert entries(combo) == listed  # not listed: nothing to pick it again from
    assert combo.findData(str(bad)) < 0 and combo.currentData() == "fake"
    assert w.prefs.weights == "fake" and w.selection.weights == "fake"
    assert len(w.notifier.history) == 1


def test_fine_tuned_versions_are_listed_by_name_after_a_restart(qtbot, make_window, folder,
                                                                tmp_path):
    w = make_window()
    wait_model(qtbot, w)
    open_and_show(qtbot, w, folder)
    state = w.session.state_dir()
    ckpts = {}
    for name in ("v1-20250101-1200", "v2-20250102-0930"):  # as two fine-tunes left them
        run = state / "runs" / name
        run.mkdir(parents=True)
        ckpts[name] = run / "model.pt"
        ckpts[name].write_bytes(b"")
        VersionRegistry(state).add(name, ckpts[name], {"status": "finished"}, {}, [])
    w.finetune.rebuild_versions_menu()  # what a fine-tune's end does
    assert entries(w.model_controls.weights_combo)["v2-20250102-0930"] == str(ckpts[
        "v2-20250102-0930"])
    w.close()  # the model in use stays "fake": the versions were never chosen

    w2 = make_window()  # a restart: the same settings, the same dataset
    wait_model(qtbot, w2)
    open_and_show(qtbot, w2, folder)
    combo = w2.model_controls.weights_combo
    listed = entries(combo)
    for name, path in ckpts.items():
        assert listed[name] == str(path)
        assert combo.itemData(combo.findText(name), Qt.ToolTipRole) == str(path)
    assert combo.currentData() == "fake"  # listed, not chosen
    with qtbot.waitSignal(w2.inference.modelReady, timeout=30_000):
        pick(qtbot, combo, "v1-20250101-1200")
    assert w2.selection.weights == str(ckpts["v1-20250101-1200"])
    assert combo.currentText() == "v1-20250101-1200"
    # another dataset lists its own versions: these go, except the one in use
    other = tmp_path / "other"
    other.mkdir()
    write_image(other / "a.png", 64, 64)
    open_and_show(qtbot, w2, other)
    listed = entries(combo)
    assert "v2-20250102-0930" not in listed and listed["v1-20250101-1200"] == str(
        ckpts["v1-20250101-1200"])
