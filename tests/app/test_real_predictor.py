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
