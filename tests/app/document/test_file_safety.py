"""Issue 10 in the window: two writers on one file, autosave that fails or must not
stall, and an image replaced on disk by one of another size."""
from __future__ import annotations

import json

import numpy as np
from PySide6.QtGui import QAction

from model.data.coco import load_dataset
from tests.app.conftest import Answers, open_and_show, wait_model
from tests.helpers import make_coco, write_image


def act(w, name) -> QAction:
    return w.findChild(QAction, name)


def reviews(path) -> dict:
    return {img["id"]: img.get("review") for img in json.loads(path.read_text())["images"]}


def crash_and_restore(qtbot, make_window, w, coco, shown: list | None = None):
    """Close `w` as a crash would (no question, no save), open `coco` again in a new
    window, which must offer the recovery copy; restored, that window. `shown` gets the
    questions asked and the notices shown, in their order."""
    w.files.maybe_save = lambda: True
    w.close()
    answers = Answers({"Recover unsaved work?": "Restore"})
    w2 = make_window(answers=answers)
    if shown is not None:
        asks = w2.notifier.ask
        w2.notifier.ask = lambda title, *a: shown.append(title) or asks(title, *a)
        w2.notifier.shown.connect(lambda level, text: shown.append(text))
    w2.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w2, coco)
    assert "Recover unsaved work?" in answers.asked
    return w2


def test_two_windows_on_one_file_never_overwrite_each_other_silently(qtbot, make_window,
                                                                      tmp_path):
    coco = make_coco(tmp_path)
    answers = Answers({"The file changed on disk": "Save As…"})
    a, b = make_window(), make_window(answers=answers)
    for w in (a, b):
        w.actions_["actionAutoPredict"].setChecked(False)
        open_and_show(qtbot, w, coco)
    act(a, "actionMarkDone").trigger()  # window A: image 0 done
    assert a.save()
    b.doc.set_row(1)
    act(b, "actionMarkDone").trigger()  # window B: image 5 done
    elsewhere = tmp_path / "b.json"
    b.files.ask_save_path = lambda default: elsewhere
    assert b.save()
    assert "The file changed on disk" in answers.asked
    assert reviews(coco) == {0: "done", 5: None}  # A's work is still there
    assert reviews(elsewhere)[5] == "done"
    act(b, "actionMarkDone").trigger()  # reopen image 5, then done again: dirty
    act(b, "actionMarkDone").trigger()
    b.files.ask_save_path = lambda default: coco
    answers.by_title["The file changed on disk"] = "Overwrite"
    a.doc.set_row(1)
    act(a, "actionMarkDone").trigger()
    assert a.save()  # A writes again...
    assert b.save(ask=True)  # ...and B, saving over it on purpose via Save As, is not asked
    assert reviews(coco)[5] == "done"


def test_a_save_over_a_changed_file_can_reload_instead(qtbot, make_window, tmp_path):
    coco = make_coco(tmp_path)
    answers = Answers({"The file changed on disk": "Reload (drop my changes)"})
    w = make_window(answers=answers)
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, coco)
    act(w, "actionMarkDone").trigger()
    data = json.loads(coco.read_text())
    data["images"][1]["review"] = "done"  # another program writes the file
    coco.write_text(json.dumps(data))
    with qtbot.waitSignal(w.inference.pixelsReady, timeout=30_000):
        assert w.save()
    assert not w.doc.dirty and w.doc.dataset.images[1].status == "done"
    assert w.doc.dataset.images[0].status == "unreviewed"


def test_autosave_failure_is_said_once_and_its_recovery_noticed(qtbot, make_window, folder):
    w = make_window()
    open_and_show(qtbot, w, folder)
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=30_000):
        pass
    blocker = folder / ".maskloop" / "recovery.json"
    blocker.mkdir(parents=True)  # the recovery file cannot be written (as a full disk)
    failures, notes = [], []
    w.session.writeFailed.connect(failures.append)
    w.session.message.connect(notes.append)
    w.doc.select(w.doc.listed(w.doc.current)[0])
    act(w, "actionAccept").trigger()
    for _ in range(3):  # three ticks, one message
        with qtbot.waitSignal(w.session.writer.failed, timeout=10_000):
            w.session.autosave()
    qtbot.waitUntil(lambda: len(failures) >= 1, timeout=5_000)
    assert len(failures) == 1 and "Autosave failed" in failures[0]
    assert "directory" in failures[0].lower()  # the reason, not just 'failed'
    blocker.rmdir()
    with qtbot.waitSignal(w.session.autosaved, timeout=10_000):
        w.session.autosave()
    assert blocker.is_file() and any("works again" in n for n in notes)


def test_autosave_writes_only_what_changed_and_restores_it(qtbot, make_window, tmp_path):
    coco = make_coco(tmp_path)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    open_and_show(qtbot, w, coco)
    w.doc.select(w.doc.current.instances[0])
    act(w, "actionDeleteInstance").trigger()
    path = w.session.autosave(wait=True)
    saved = json.loads(path.read_text())
    assert [i["id"] for i in saved["images"]] == [0]  # image 5 is unchanged: not copied
    assert saved["maskloop_recovery"]["delta"] is True
    ids_left = [i.id for i in w.doc.current.instances]
    w2 = crash_and_restore(qtbot, make_window, w, coco)
    assert [i.id for i in w2.doc.dataset.images[0].instances] == ids_left
    assert len(w2.doc.dataset.images[1].instances) == 2 and w2.doc.dirty


def test_an_image_replaced_by_another_size_keeps_the_file_consistent(qtbot, make_window,
                                                                      tmp_path):
    coco = make_coco(tmp_path)
    write_image(tmp_path / "imgs" / "a.png", 30, 20, 9)  # was 80x64
    w = make_window()
    wait_model(qtbot, w)
    with qtbot.waitSignal(w.inference.pixels.sizeMismatch, timeout=30_000):
        open_and_show(qtbot, w, coco)
    rec = w.doc.current
    assert (rec.width, rec.height) == (80, 64)  # the record keeps its size
    assert any("size mismatch" in t.lower() for _l, t, _x in w.notifier.history)
    with qtbot.waitSignal(w.inference.predictionSkipped, timeout=30_000):
        act(w, "actionPredict").trigger()  # its masks would land in the wrong frame
    w.doc.select(rec.instances[1])
    act(w, "actionDeleteInstance").trigger()
    out = tmp_path / "out.json"
    w.files.ask_save_path = lambda default: out
    assert w.save(ask=True)
    back = load_dataset(out)  # what MaskLoop writes, MaskLoop reads back
    assert (back.images[0].width, back.images[0].height) == (80, 64)
    assert all(i.mask.shape[0] <= 64 for i in back.images[0].instances)
    assert np.all([i.id != 9 for i in back.images[0].instances])


def test_a_state_folder_that_is_a_link_is_not_written_through(qtbot, make_window, tmp_path,
                                                              monkeypatch):
    """A shared dataset whose `.maskloop` links elsewhere: the autosave, the cache and the
    recovery go to the user's own state folder, said once; nothing is written through."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "user-state"))
    coco = make_coco(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / ".maskloop").symlink_to(outside)
    w = make_window()
    w.actions_["actionAutoPredict"].setChecked(False)
    said = []
    w.notifier.shown.connect(lambda level, text: said.append((level, text)))
    open_and_show(qtbot, w, coco)
    state = w.session.state_dir()
    assert state.is_relative_to(tmp_path / "user-state")
    assert [lvl for lvl, text in said if "is a link" in text and str(state) in text] == ["warning"]
    w.doc.select(w.doc.current.instances[0])
    act(w, "actionDeleteInstance").trigger()
    path = w.session.autosave(wait=True)
    assert path.parent == state and path.is_file()
    assert w.save() and list(outside.iterdir()) == []  # the effort record went there too
    assert (state / f"{coco.stem}.effort.json").is_file()
    w.doc.select(w.doc.current.instances[0])  # unsaved work after the save
    act(w, "actionDeleteInstance").trigger()
    assert w.doc.dirty and w.session.autosave(wait=True).parent == state
    left = [i.id for i in w.doc.dataset.images[0].instances]
    shown = []
    w2 = crash_and_restore(qtbot, make_window, w, coco, shown)
    assert [i.id for i in w2.doc.dataset.images[0].instances] == left
    # the question first, then the notice (shown under the question, it went unread)
    assert shown[0] == "Recover unsaved work?" and "is a link" in shown[1]
    assert list(outside.iterdir()) == []
