"""One end-to-end run with the real torchvision Mask R-CNN (random weights, tiny image)."""
import pytest
from PySide6.QtWidgets import QSlider

from app.inference.workers import default_factory
from tests.app.conftest import open_and_show, wait_model
from tests.helpers import write_image


@pytest.mark.slow
def test_real_predictor_in_the_worker(qtbot, make_window, tmp_path):
    import torch
    torch.manual_seed(0)  # the random weights decide what is found; keep them fixed
    d = tmp_path / "one"
    d.mkdir()
    write_image(d / "a.png", 64, 80)
    w = make_window(weights="none", factory=default_factory, min_size=64, max_size=96)
    w.findChild(QSlider, "scoreThreshold").setValue(0)
    wait_model(qtbot, w, timeout=120_000)
    assert w.inference.info.model_id == "random-init:maskrcnn_resnet50_fpn"
    with qtbot.waitSignal(w.inference.predictionApplied, timeout=120_000) as blocker:
        open_and_show(qtbot, w, d, timeout=120_000)
    assert blocker.args[1] > 0
    rec = w.doc.current
    names = w.doc.dataset.category_names()
    for inst in rec.instances:
        assert inst.source == "model" and inst.mask.dtype == bool
        assert names[inst.category_id]  # COCO class names were adopted by the dataset
        x, y = inst.offset
        assert x + inst.mask.shape[1] <= 80 and y + inst.mask.shape[0] <= 64
    # the worker kept this image's features: a box now costs only the heads
    assert rec.id in w.inference.worker.features
    from app.inference.workers import AssistRequest
    req = AssistRequest(99, rec.id, "boxes", image=w.inference.pixels.rgb(rec.id),
                        boxes=[(10.0, 8.0, 50.0, 40.0)], category_ids=[None])
    with qtbot.waitSignal(w.inference.worker.assisted, timeout=120_000) as blocker:
        w.inference.worker.assist(req)
    answered, result = blocker.args
    assert answered is req and not isinstance(result, str)
    (bm,) = result
    assert bm.category_id in names
    if bm.mask.size:
        x, y = bm.offset
        assert x >= 10 and y >= 8 and x + bm.mask.shape[1] <= 50 and y + bm.mask.shape[0] <= 40
    with qtbot.waitSignal(w.inference.worker.assisted, timeout=120_000) as blocker:
        w.inference.worker.assist(AssistRequest(100, rec.id, "candidates",
                                                image=w.inference.pixels.rgb(rec.id)))
    cands = blocker.args[1]
    assert isinstance(cands, list) and all(c.score >= 0.01 for c in cands)
