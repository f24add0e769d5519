import pickle
import threading
import urllib.error

import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from model.data.annotations import Instance
from model.net.build import build_model
from model.net.devices import resolve_device
from model.errors import Cancelled, DeviceError, WeightsError
from model.net.postprocess import paste_masks_cropped
from model.net.predictor import Predictor
from model.net.weights import ARCH_V1, ARCH_V2, coco_label_categories, hub_checkpoint_path

H, W = 96, 128


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    # 25 detections keep the mask head cheap on 2 CPU cores; the contract is the same
    return Predictor(weights="none", device="cpu", score_threshold=0.0, min_size=96, max_size=128,
                     detections_per_img=25)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    img[20:60, 30:90] = [200, 40, 40]
    return img


def test_predict_contract(predictor, image):
    out = predictor.predict(image)
    assert 0 < len(out) <= 25
    coco_ids = {c.id for c in coco_label_categories() if c is not None}
    scores = [i.score for i in out]
    assert scores == sorted(scores, reverse=True)
    for inst in out:
        assert isinstance(inst, Instance)
        assert inst.mask.dtype == bool and inst.mask.any()
        x, y = inst.offset
        h, w = inst.mask.shape
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
        assert inst.mask[0].any() and inst.mask[-1].any()  # tight crop
        assert inst.mask[:, 0].any() and inst.mask[:, -1].any()
        assert inst.category_id in coco_ids
        assert inst.source == "model" and inst.review == "unreviewed"
        assert inst.model == "random-init:maskrcnn_resnet50_fpn" and inst.id is None


def test_score_threshold_drops_before_masks(predictor, image):
    all_ = predictor.predict(image)
    predictor.score_threshold = 0.6
    try:
        high = predictor.predict(image)
    finally:
        predictor.score_threshold = 0.0
    assert all(i.score > 0.6 for i in high)
    assert len(high) == sum(i.score > 0.6 for i in all_)


def test_masks_equal_torchvision_pasted_masks(predictor, image):
    ours = predictor.predict(image)
    with torch.inference_mode():
        ref = predictor.model([torch.from_numpy(image).permute(2, 0, 1).float() / 255])[0]
    cats = predictor.label_categories
    expected = [(m[0].numpy() > 0.5, float(s), int(l)) for m, s, l in
                zip(ref["masks"], ref["scores"], ref["labels"])]
    expected = [e for e in expected if cats[e[2]] is not None and e[0].any()]
    assert len(ours) == len(expected) > 10
    for inst, (mask, score, label) in zip(ours, expected):
        assert np.array_equal(inst.full_mask(H, W), mask)
        assert inst.score == pytest.approx(score) and inst.category_id == cats[label].id


def test_paste_equivalence_on_random_boxes_including_borders():
    g = torch.Generator().manual_seed(3)
    n, h, w = 60, 50, 70
    probs = torch.rand((n, 1, 28, 28), generator=g)
    # model boxes are clipped to the image, so they may touch but never pass its border
    size = torch.tensor([w, h], dtype=torch.float32)
    xy = torch.rand((n, 2), generator=g) * size
    wh = torch.rand((n, 2), generator=g) * 40 + 0.3
    boxes = torch.cat([xy, torch.minimum(xy + wh, size)], dim=1)
    boxes[:5, :2] = 0.0
    ref = paste_masks_in_image(probs, boxes, (h, w))[:, 0] > 0.5
    ours = paste_masks_cropped(probs, boxes, h, w)
    for (crop, off), full in zip(ours, ref):
        got = np.zeros((h, w), bool)
        if crop.size:
            got[off[1]:off[1] + crop.shape[0], off[0]:off[0] + crop.shape[1]] = crop
        assert np.array_equal(got, full.numpy())


def test_predict_batch_matches_single(predictor, image):
    other = np.ascontiguousarray(image[::-1])
    batch = predictor.predict_batch([image, other])
    for single, batched in zip([predictor.predict(image), predictor.predict(other)], batch):
        assert len(single) == len(batched)
        assert [i.score for i in single] == pytest.approx([i.score for i in batched], abs=1e-4)


def test_cancel_stops_prediction(predictor, image):
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        predictor.predict(image, cancel=ev)


def test_bad_input_array(predictor):
    with pytest.raises(ValueError, match="RGB uint8"):
        predictor.predict(np.zeros((10, 10), np.uint8))


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(DeviceError, match="no CUDA"):
            resolve_device("cuda:1")
        with pytest.raises(DeviceError):
            Predictor(weights="none", device="cuda")
    else:  # checked on a GPU machine: auto picks the GPU, a bad index names the range
        assert resolve_device("auto").type == "cuda"
        n = torch.cuda.device_count()
        with pytest.raises(DeviceError, match=f"only {n} CUDA device"):
            resolve_device(f"cuda:{n}")
        assert resolve_device("cuda:0") == torch.device("cuda", 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_predict_matches_cpu(monkeypatch):
    """The CUDA path (fp32) finds what the CPU finds; AMP stays finite."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(0)
    cpu = Predictor(weights="none", device="cpu", score_threshold=0.0, min_size=128, max_size=128)
    gpu = Predictor(weights="none", device="cuda", score_threshold=0.0, min_size=128,
                    max_size=128, amp=False)
    gpu.model.load_state_dict(cpu.model.state_dict())
    rgb = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    a, b = cpu.predict(rgb), gpu.predict(rgb)
    assert a and abs(len(a) - len(b)) <= 2
    assert a[0].category_id == b[0].category_id and abs(a[0].score - b[0].score) < 1e-3
    ma, mb = a[0].full_mask(96, 128), b[0].full_mask(96, 128)
    assert (ma & mb).sum() / (ma | mb).sum() > 0.95
    gpu.amp = True
    assert all(np.isfinite(i.score) for i in gpu.predict(rgb))


def _own_checkpoint(tmp_path, cat_ids=(5, 9)):
    model = build_model(ARCH_V1, len(cat_ids) + 1)
    ckpt = {"arch": ARCH_V1, "num_classes": len(cat_ids) + 1,
            "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids],
            "min_size": 96, "max_size": 128, "model": model.state_dict(), "history": [],
            "model_id": "v7"}
    path = tmp_path / "ckpt.pt"
    torch.save(ckpt, path)
    return path, model


def test_own_checkpoint_maps_labels_to_dataset_ids(tmp_path, image):
    path, _ = _own_checkpoint(tmp_path)
    p = Predictor(weights=path, device="cpu", score_threshold=0.0, detections_per_img=10)
    assert (p.min_size, p.max_size) == (96, 128) and p.model_id == "v7"
    assert [c.id for c in p.categories] == [5, 9]
    out = p.predict(image)
    assert out and {i.category_id for i in out} <= {5, 9} and out[0].model == "v7"


def test_bare_state_dict_and_ddp_prefix(tmp_path):
    model = build_model(ARCH_V1, 91)
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save(sd, tmp_path / "sd.pth")
    p = Predictor(weights=tmp_path / "sd.pth", device="cpu", min_size=64, max_size=64)
    assert len(p.categories) == 80 and p.model_id == "file:sd.pth"


def test_checkpoint_for_other_arch_or_classes_is_a_clear_error(tmp_path):
    v2 = build_model(ARCH_V2, 4)
    torch.save(v2.state_dict(), tmp_path / "v2.pth")
    with pytest.raises(WeightsError, match="for maskrcnn_resnet50_fpn_v2, but maskrcnn_resnet50_fpn"):
        Predictor(weights=tmp_path / "v2.pth", arch=ARCH_V1, device="cpu")
    p = Predictor(weights="none", device="cpu", min_size=64, max_size=64)
    with pytest.raises(WeightsError, match=r"do not fit .* 91 classes.*4x1024 in the file"):
        p.load_state_dict(build_model(ARCH_V1, 4).state_dict(), "other")
    from torchvision.models import resnet18
    torch.save(resnet18().state_dict(), tmp_path / "cls.pth")
    with pytest.raises(WeightsError, match="not a Mask R-CNN"):
        Predictor(weights=tmp_path / "cls.pth", device="cpu")
    path, _ = _own_checkpoint(tmp_path)
    ck = torch.load(path, weights_only=True)
    ck["categories"] = ck["categories"][:1]
    torch.save(ck, path)
    with pytest.raises(WeightsError, match="lists 1 categories but its model has 2 classes"):
        Predictor(weights=path, device="cpu")


class _Evil:
    def __reduce__(self):
        import pathlib
        return (pathlib.Path.touch, (pathlib.Path(_Evil.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused(tmp_path):
    _Evil.marker = str(tmp_path / "pwned")
    torch.save({"model": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="refused to load"):
        Predictor(weights=tmp_path / "evil.pt", device="cpu")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(WeightsError):
        Predictor(weights=tmp_path / "plain.pkl", device="cpu")
    assert not (tmp_path / "pwned").exists()


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        Predictor(weights=tmp_path / "nope.pt", device="cpu")


def test_coco_weights_offline_and_uncached_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*a, **k):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(WeightsError) as e:
        Predictor(weights="coco", device="cpu")
    msg = str(e.value)
    assert str(tmp_path / "hub" / "checkpoints") in msg and "offline" in msg
    assert "--weights PATH" in msg and "--weights none" in msg
    with pytest.raises(WeightsError, match="not in the torch hub cache"):
        Predictor(weights="coco-v2", device="cpu", allow_download=False)


def test_coco_weights_from_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights
    dst = hub_checkpoint_path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url)
    dst.parent.mkdir(parents=True)
    torch.save(build_model(ARCH_V1, 91).state_dict(), dst)
    p = Predictor(weights="coco", device="cpu", min_size=64, max_size=64)
    assert p.model_id == "torchvision:maskrcnn_resnet50_fpn:COCO_V1"
    assert any(c.name == "cat" and c.id == 17 for c in p.categories)
