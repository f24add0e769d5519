"""Issue 28 item 24: resource bombs. Each hostile file is small on disk and built cheaply here;
the code under test runs in a fresh process under an address-space limit and reports its own
peak resident memory (VmHWM), so a regression that decodes what it should only have counted
fails here, instead of taking the machine down."""
from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import png_chunk, zero_png

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 2 * 1024 ** 3  # address space of the child

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="reads the child's VmHWM (Linux)")

PRELUDE = r"""
import json, sys
sys.path.insert(0, ".")
def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) // 1024
out = {}
"""


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def in_child(code: str, *args: str, timeout: int = 300) -> dict:
    """Run `code` (which fills the dict `out`) in a fresh process under LIMIT; `out`,
    with the child's peak resident memory in MB as out['peak']."""
    r = subprocess.run([sys.executable, "-c", PRELUDE + code
                        + "\nout['peak'] = peak_mb()\nprint(json.dumps(out))", *map(str, args)],
                       cwd=ROOT, preexec_fn=_limit, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- hostile files

def exif_orientation(value: int) -> bytes:
    """A big-endian TIFF header with one IFD entry: Orientation (0x0112) = value."""
    return (b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, value, 0)
            + struct.pack(">I", 0))


# ------------------------------------------------------ the PNG header check decodes nothing

def test_exif_after_the_pixels_is_read_as_opencv_reads_it(tmp_path):
    from model.data.images import header_size, read_image, read_size
    p = tmp_path / "turned.png"
    p.write_bytes(zero_png(40, 20, True, exif_orientation(6)))
    shown = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    assert shown.shape[:2] == (40, 20)  # OpenCV turns it: 20 wide, 40 high
    assert read_size(p) == (20, 40) == header_size(p.read_bytes())
    assert read_size(p, oriented=False) == (40, 20)
    assert read_image(p).shape == (40, 20, 3)


def test_the_png_header_check_decodes_no_pixel(tmp_path):
    """Pillow's getexif() loads a PNG to reach chunks after IDAT: a 20000 x 16000 palette PNG
    of 40 KB took 320 MB there, and a 60000 x 50000 one tried 3 GB (refused by the limit, it
    lost the orientation)."""
    mid, huge = tmp_path / "mid.png", tmp_path / "huge.png"
    mid.write_bytes(zero_png(20_000, 16_000, True))
    huge.write_bytes(zero_png(60_000, 50_000, True, exif_orientation(6)))
    out = in_child(r"""
from model.data.images import header_size, read_image, read_size
from model.errors import ImageReadError
out["mid"] = read_size(sys.argv[1])
out["huge"] = read_size(sys.argv[2])
out["bytes"] = header_size(open(sys.argv[2], "rb").read(), "shape 0's mask")
try:
    read_image(sys.argv[2])
except ImageReadError as e:
    out["error"] = str(e)
""", mid, huge)
    assert out["mid"] == [20_000, 16_000]
    assert out["huge"] == out["bytes"] == [50_000, 60_000]  # turned, as OpenCV shows it
    assert out["error"].startswith(f"{huge}: image is 50000x60000 (3,000,000,000 pixels), "
                                   "over the limit"), out["error"]
    assert out["peak"] < 200, out  # numpy, OpenCV and Pillow themselves: about 80 MB


# ------------------------------------------------------------- label images, as runs

def test_label_regions_match_each_id_pixel_for_pixel(monkeypatch):
    """Strips of a few columns, so runs cross strip edges and column feet."""
    from model.formats import runs
    monkeypatch.setattr(runs, "STRIP_PIXELS", 23)
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 5, (9, 11)).astype(np.uint16)
    lab[:, 4:7] = 9  # one id down whole columns: one run across three columns
    lab[3:, 7] = 4
    lab[:2, 8] = 4  # runs of 4 joined across a column's foot
    lab[0, 0] = 65535
    got = dict(runs.label_regions(lab))
    assert sorted(got) == sorted(int(v) for v in np.unique(lab) if v)
    from pycocotools import mask as mask_utils
    for k, fields in got.items():
        want = lab == k
        seg = fields["segmentation"]
        pixels = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()})
        assert np.array_equal(pixels.astype(bool), want), k
        ys, xs = np.nonzero(want)
        assert fields["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                  ys.max() - ys.min() + 1], k
        assert fields["area"] == want.sum()


def test_label_regions_refuse_noise_and_too_many_ids():
    from model.formats.runs import label_regions
    noise = (np.arange(64 * 64) % 7 + 1).astype(np.uint16).reshape(64, 64)
    with pytest.raises(ValueError, match="more than 1,000 runs of label ids"):
        list(label_regions(noise, max_runs=1000))
    many = np.arange(1, 101, dtype=np.int32).reshape(10, 10)
    with pytest.raises(ValueError, match="100 label ids, more than the 99"):
        list(label_regions(many, max_ids=99))


def grey_png(w: int, h: int, value: int = 0, depth: int = 8) -> bytes:
    """A w x h grey PNG whose every pixel is `value`, built a block of rows at a time."""
    row = bytes([0]) + (value.to_bytes(depth // 8, "big") * w)
    rows = max(1, (1 << 22) // len(row))
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = c.compress(row * rows) + c.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(1, zlib.DEFLATED, -15)
    tail = last.compress(row * (h % rows)) + last.flush()
    adler = 1
    for _ in range(h // rows):
        adler = zlib.adler32(row * rows, adler)
    adler = zlib.adler32(row * (h % rows), adler)
    stream = b"\x78\x01" + body * (h // rows) + tail + struct.pack(">I", adler)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))
            + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b""))


def test_a_scattered_label_image_is_refused_by_its_runs_under_a_memory_limit(tmp_path):
    """4096 x 4096, 16-bit, ids arange % 65535 + 1: every id's box is the image. It took
    10 s and 2.5 GB to read (and its masks export ran past 900 s)."""
    root = tmp_path / "s"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "images" / "a.png").write_bytes(grey_png(4096, 4096))
    lab = (np.arange(4096 * 4096) % 65535 + 1).astype(np.uint16).reshape(4096, 4096)
    cv2.imwrite(str(root / "labels" / "a.png"), lab)
    out = in_child(r"""
from model.formats.detect import open_any
ds = open_any(sys.argv[1])
out["instances"] = sum(len(r.instances) for r in ds.images)
out["warnings"] = ds.warnings
""", root)
    assert out["instances"] == 0
    assert out["warnings"] == [f"{root / 'labels' / 'a.png'}: more than 4,000,000 runs of "
                               "label ids (the ids change every few pixels: noise, not "
                               "instances); skipped"]
    assert out["peak"] < 300, out  # the 32 MB image, twice while OpenCV decodes it


SIDE = 6000  # 36 MP: ten image-sized masks held as crops cost 360 MB, as RLE a few KB


def big_exports(tmp: Path) -> dict[str, tuple[Path, str]]:
    """One SIDE x SIDE image with ten image-sized masks, as a masks folder, a labelme file
    and a label image (two ids: 1 covers the image, 2 a band of it)."""
    image = grey_png(SIDE, SIDE)
    masks = tmp / "masks"
    (masks / "images").mkdir(parents=True)
    (masks / "images" / "big.png").write_bytes(image)
    (masks / "masks" / "big").mkdir(parents=True)
    full = grey_png(SIDE, SIDE, 255)
    for n in range(1, 11):
        (masks / "masks" / "big" / f"{n:03d}_thing.png").write_bytes(full)
    labels = tmp / "labels"
    (labels / "images").mkdir(parents=True)
    (labels / "images" / "big.png").write_bytes(image)
    (labels / "labels").mkdir()
    lab = np.ones((SIDE, SIDE), np.uint16)
    lab[:, 100:200] = 2
    cv2.imwrite(str(labels / "labels" / "big.png"), lab)
    lm = tmp / "labelme"
    lm.mkdir()
    (lm / "big.png").write_bytes(image)
    square = [[0, 0], [SIDE, 0], [SIDE, SIDE], [0, SIDE]]
    (lm / "big.json").write_text(json.dumps({
        "version": "5.5.0", "imagePath": "big.png", "imageHeight": SIDE, "imageWidth": SIDE,
        "imageData": None, "flags": {},
        "shapes": [{"label": "thing", "points": square, "shape_type": "polygon",
                    "group_id": None, "flags": {}} for _ in range(10)]}))
    return {"masks": (masks, "masks"), "labels": (labels, "labels"), "labelme": (lm, "labelme")}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["masks", "labels", "labelme"])
def test_reading_back_image_sized_masks_costs_one_mask_not_ten(kind, tmp_path):
    """The masks folder and labelme readers kept a crop per instance (ten 14000 x 14000
    masks: 2.7 and 2.2 GB), the label image reader sorted every pixel (6.2 GB); the masks
    are now kept as RLE, and a label image as its runs."""
    path, fmt = big_exports(tmp_path)[kind]
    out = in_child(r"""
from model.formats.detect import open_any
ds = open_any(sys.argv[1], format_in=sys.argv[2])
insts = ds.images[0].instances
out["areas"] = [i.area for i in insts]
out["lazy"] = all(i.is_lazy for i in insts)
out["warnings"] = ds.warnings
""", path, fmt)
    side2 = SIDE * SIDE
    want = [side2 - SIDE * 100, SIDE * 100] if kind == "labels" else [side2] * 10
    assert out["areas"] == want and out["lazy"] and not out["warnings"], out
    # numpy, OpenCV and Pillow: about 80 MB; one decoded mask or label image: 36 or 72 MB
    # (OpenCV holds a 16-bit one twice while decoding); ten crops would be 360 MB more
    assert out["peak"] < (300 if kind == "labels" else 200), out


# ------------------------------------------------- writing masks costs what they hold

def _decoded_idat(data: bytes) -> bytes:
    """The PNG's pixel stream through zlib itself, which checks the adler32."""
    idat, at = b"", 8
    while at < len(data):
        n, tag = struct.unpack(">I4s", data[at:at + 8])
        if tag == b"IDAT":
            idat += data[at + 8:at + 8 + n]
        at += 12 + n
    return zlib.decompress(idat)


@pytest.mark.parametrize("band", [1 << 22, 300])
def test_sparse_masks_and_label_images_are_written_pixel_exact(band, monkeypatch):
    """Rows without a pixel are copied in as ready-made zero blocks (here small ones too)."""
    from model.data import masks as M
    from model.formats import raster
    monkeypatch.setattr(raster, "BAND_PIXELS", band)
    monkeypatch.setattr(raster, "ZERO_BLOCK", 200)
    h, w = 97, 61
    rng = np.random.default_rng(5)
    layers = []
    for k in range(6):
        m = np.zeros((h, w), bool)
        for _ in range(3):  # a few blobs, far apart in rows: stretches and gaps
            y, x = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 9))
            m[y:y + int(rng.integers(1, 4)), x:x + int(rng.integers(1, 9))] = True
        layers.append(m)
    layers.append(np.ones((h, w), bool) & (np.arange(h)[:, None] % 40 == 0))
    labels, want = raster.LabelImage(h, w), np.zeros((h, w), np.uint16)
    for n, m in enumerate(layers, 1):
        bm = raster.BandedMask(M.crop_counts(*M.tight_crop(m), h, w), h, w)
        data = raster.mask_png(bm)
        assert len(_decoded_idat(data)) == h * (w + 1)
        got = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(got, m.astype(np.uint8) * 255), n
        labels.add(n * 1000, bm)
        want[m] = n * 1000
    data = labels.png()
    assert len(_decoded_idat(data)) == h * (2 * w + 1)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), want)
    assert labels.shown == set(np.unique(want).tolist())


def test_a_masks_export_deflates_the_rows_its_instances_touch(monkeypatch, tmp_path):
    """300 small discs on a 1000 x 1000 image: each mask PNG is the image's size, but only
    the rows a disc touches are painted and deflated (before: 300 x 1 MB, and every
    instance painted a band of the label image)."""
    from model.data.annotations import Category, Dataset, Instance
    from model.formats import raster
    from model.formats.mask_pngs import read_masks, write_masks
    side, n = 1000, 300
    (tmp_path / "a.png").write_bytes(grey_png(side, side))
    ds = Dataset([Category(1, "cell")], image_root=tmp_path)
    rec = ds.add_image("a.png", side, side)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:21, :21]
    disc = (yy - 10) ** 2 + (xx - 10) ** 2 <= 100
    for _ in range(n):
        x, y = (int(v) for v in rng.integers(0, side - 21, 2))
        ds.add_instance(rec, Instance(1, disc, (x, y)))
    deflated = []
    real = zlib.compressobj

    class Counting:
        def __init__(self, *args):
            self.c = real(*args)

        def compress(self, data):
            deflated.append(len(data))
            return self.c.compress(data)

        def flush(self, *args):
            return self.c.flush(*args)

    monkeypatch.setattr(raster.zlib, "compressobj", Counting)
    report = write_masks(ds, tmp_path / "out")
    assert report.instances == n
    # 21 rows of 1001 bytes a disc, the label image's rows, and the zero blocks made once
    assert sum(deflated) < 12 * 2 ** 20, sum(deflated)  # before: 300 MB
    back = read_masks(tmp_path / "out", "masks")
    for inst, orig in zip(back.images[0].instances, rec.instances):
        assert inst.offset == orig.offset and np.array_equal(inst.mask, orig.mask)


# --------------------------------------------------------------------- report

def effort_files(tmp: Path) -> tuple[Path, Path]:
    """Two COCO files whose effort records (1.6 KB each) hold ten image-sized model masks:
    at 20000 x 20000 (over the pixel limit) and at 14000 x 14000."""
    out = []
    for name, side in (("big", 20_000), ("ok", 14_000)):
        coco = tmp / f"{name}.json"
        coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
        full = {"size": [side, side], "counts": [0, side * side]}
        insts = [{"id": k, "version": "v1", "origin": "model", "outcome": "edited", "iou": 0.5,
                  "model_mask": full} for k in range(1, 11)]
        state = tmp / ".maskloop"
        state.mkdir(exist_ok=True)
        (state / f"{name}.effort.json").write_text(json.dumps({
            "format": "maskloop-effort/1", "images": [{
                "id": 1, "file_name": "a.png", "width": side, "height": side,
                "actions": {"v1": {"accept": 1}}, "instances": insts}]}))
        out.append(coco)
    return out[0], out[1]


def test_report_checks_model_masks_by_their_runs_under_a_memory_limit(tmp_path):
    """Each model mask was decoded on reading: 4 GB for the 20000 x 20000 record."""
    big, ok = effort_files(tmp_path)
    out = in_child(r"""
import contextlib, io
from model.cli.entry import main
for name in sys.argv[1:]:
    err, said = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(said):
        rc = main(["report", name, "--json"])
    out[name] = [rc, err.getvalue(), json.loads(said.getvalue())["total"]]
""", big, ok)
    rc, err, total = out[str(big)]
    assert rc == 0 and total["instances"] == 0
    assert err == (f"warning: {tmp_path / '.maskloop' / 'big.effort.json'}: 1 entry of the "
                   "effort record skipped (first: image 1: 20000x20000 is over the "
                   "200-megapixel limit)\n")
    rc, err, total = out[str(ok)]
    assert rc == 0 and err == "" and total["instances"] == 10
    assert out["peak"] < 200, out  # ten decoded masks: 1.96 GB


@pytest.mark.parametrize("mask, why", [
    ({"size": [4, 5], "counts": [0, 20]}, "model_mask's size [4, 5] is not its image's [5, 4]"),
    ([[0, 0, 3, 0, 3, 3]], "model_mask is not COCO RLE"),
    ({"size": [5, 4], "counts": [3, 4]}, "its runs do not cover 5x4 pixels"),
    ({"size": [5, 4], "counts": "!!"}, "model_mask does not decode"),
])
def test_a_model_mask_that_is_no_rle_of_its_image_is_a_warning(mask, why, tmp_path):
    from model.effort import store
    path = tmp_path / "x.effort.json"
    path.write_text(json.dumps({"format": "maskloop-effort/1", "images": [{
        "id": 1, "file_name": "a", "width": 4, "height": 5, "actions": {},
        "instances": [{"id": 3, "version": "", "origin": "model", "outcome": "edited",
                       "model_mask": mask}]}]}))
    entries, warning = store.read(path)
    assert entries == [] and warning.startswith(f"{path}: 1 entry") and why in warning, warning


def test_a_model_mask_read_from_the_record_is_decoded_to_its_box(tmp_path):
    from model.data import masks as M
    from model.data.annotations import Category, Dataset
    from model.effort import store
    m = np.zeros((50, 40), bool)
    m[10:14, 20:23] = True
    rle = M.encode_rle(*M.tight_crop(m), 50, 40)
    ds = Dataset([Category(1, "x")])
    ds.add_image("a.png", 40, 50)
    entries = [{"id": 1, "file_name": "a.png", "width": 40, "height": 50, "actions": {},
                "instances": [{"id": 7, "version": "v", "origin": "model", "outcome": "edited",
                               "model_mask": rle}]}]
    assert store.to_json(entries)["images"][0]["instances"][0]["model_mask"] == rle
    crop, offset = store.record_from(entries, ds).images[1].touched[7].model_mask
    assert offset == (20, 10) and crop.shape == (4, 3) and crop.all()


# -------------------------------------------------------------------- evaluate

def many_categories(tmp: Path, n: int = 20_000) -> tuple[Path, Path]:
    """A 0.6 MB ground truth that declares n categories and uses two, and two results."""
    sq = [[5, 5, 25, 5, 25, 15, 5, 15]], [[30, 20, 40, 20, 40, 30, 30, 30]]
    gt = tmp / "gt.json"
    gt.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "annotations": [{"id": k, "image_id": 1, "category_id": k, "iscrowd": 0,
                         "area": 100.0, "bbox": box, "segmentation": seg}
                        for k, (box, seg) in enumerate(((
                            [5, 5, 20, 10], sq[0]), ([30, 20, 10, 10], sq[1])), 1)],
        "categories": [{"id": i, "name": f"c{i}"} for i in range(1, n + 1)]}))
    res = tmp / "res.json"
    res.write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [5, 5, 20, 10],
         "segmentation": sq[0]},
        {"image_id": 1, "category_id": 3, "score": 0.8, "bbox": [30, 20, 10, 10],
         "segmentation": sq[1]}]))
    return gt, res


def test_evaluate_with_20000_categories_under_a_memory_limit(tmp_path):
    """COCOeval's arrays grow with categories x area ranges x images: 8.3 GB for this file,
    and --per-class's confusion matrix ran out of memory at 12.4 GB."""
    gt, res = many_categories(tmp_path)
    plots = tmp_path / "plots"
    out = in_child(r"""
import contextlib, io
from model.cli.entry import main
for key, extra in (("plain", []), ("per_class", ["--per-class", "--plots", sys.argv[3]])):
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["evaluate", sys.argv[1], sys.argv[2], "--json", *extra])
    out[key] = [rc, json.loads(said.getvalue())]
""", gt, res, plots)
    rc, plain = out["plain"]
    assert rc == 0 and plain["segm"]["AP"] == pytest.approx(0.5) and plain["bbox"]["APm"] is None
    rc, report = out["per_class"]
    assert rc == 0 and {k: report[k] for k in ("bbox", "segm")} == plain
    assert len(report["per_class"]) == 20_000 and report["per_class"]["c2"]["segm"]["AP"] == 0.0
    assert report["per_class"]["c5"]["segm"]["AP"] is None
    cm = report["confusion"]  # past 1000 categories: the classes that occur
    assert cm["labels"] == ["c1", "c2", "c3", "background"]
    assert cm["matrix"] == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert out["peak"] < 300, out
    assert cv2.imread(str(plots / "confusion.png")) is not None


def test_categories_evaluated_a_chunk_at_a_time_give_pycocotools_figures(monkeypatch):
    from model.metrics import evaluate as E
    from model.metrics.per_class import evaluate_report
    from tests.model.test_per_class import direct_cocoeval, random_case
    ds, results = random_case(1)
    whole = evaluate_report(ds, results)
    monkeypatch.setattr(E, "CATEGORY_CHUNK", 1)  # cat, dog, owl: three COCOevals (emu: no truth)
    chunked = evaluate_report(ds, results)
    for t in ("bbox", "segm"):
        for m in E.METRICS:
            assert chunked[t][m] == pytest.approx(whole[t][m], abs=1e-12), (t, m)
    assert chunked["per_class"] == whole["per_class"] and chunked["pr_curves"] == whole["pr_curves"]
    for name, cat in (("cat", 3), ("owl", 11)):
        want = direct_cocoeval(ds, results, "segm", cat)
        assert [chunked["per_class"][name]["segm"][m] for m in ("AP", "AP50", "AP75")] == \
            pytest.approx(want, abs=1e-12)


def test_a_confusion_matrix_of_too_many_occurring_classes_is_refused(monkeypatch):
    from model.metrics import confusion
    from tests.model.test_per_class import random_case
    ds, results = random_case(0)
    assert len(confusion.confusion_matrix(ds, results, score=1.1)["labels"]) == 5  # all four
    monkeypatch.setattr(confusion, "MAX_CLASSES", 3)  # 4 categories: only those that occur
    cm = confusion.confusion_matrix(ds, results, score=1.1)  # no prediction counts: no emu
    assert cm["labels"] == ["cat", "dog", "owl", "background"]
    assert sum(cm["matrix"][-1]) == 0 and all(row[-1] for row in cm["matrix"][:-1])
    monkeypatch.setattr(confusion, "MAX_CLASSES", 2)
    with pytest.raises(ValueError, match="3 classes occur in the ground truth and the "
                                         "predictions scored 1.1 or above; a confusion matrix "
                                         "is made for at most 2"):
        confusion.confusion_matrix(ds, results, score=1.1)


def test_a_confusion_plot_of_1000_classes_stays_small():
    from model.metrics.plots import confusion_image
    n = 1001
    img = confusion_image([f"c{k}" for k in range(n)], np.eye(n, dtype=np.int64).tolist(), "t")
    assert img.shape[0] * img.shape[1] < 4_000_000, img.shape  # at 14 px a cell: 200 MP


# ------------------------------------------------------------------ big files

def test_a_labelme_mask_shape_is_refused_by_its_header_under_a_memory_limit(tmp_path):
    """A 112 KB 30000 x 30000 PNG as a mask shape was refused, but only after 943 MB."""
    import base64
    (tmp_path / "a.png").write_bytes(grey_png(64, 48))
    shape = {"label": "cell", "points": [[0, 0], [63, 47]], "shape_type": "mask",
             "mask": base64.b64encode(zero_png(30_000, 30_000, True)).decode()}
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"version": "5.5.0", "shapes": [shape], "imagePath": "a.png",
                                "imageHeight": 48, "imageWidth": 64, "imageData": None}))
    out = in_child(r"""
from model.errors import FormatError
from model.formats.labelme import read_labelme
try:
    read_labelme(sys.argv[1])
except FormatError as e:
    out["error"] = str(e)
""", path)
    assert out["error"] == (f"{path}: shape 0 ('cell', mask): mask PNG is 30000x30000, larger "
                            "than its 64x48 image")
    assert out["peak"] < 200, out


def test_mask_files_of_every_kind_become_the_same_rle(tmp_path):
    """8-bit, 16-bit, palette (Pillow's arrays are read-only: no in-place conversion) and
    colour mask files read as the same instance."""
    from PIL import Image
    from model.formats.mask_pngs import read_masks
    m = np.zeros((30, 40), bool)
    m[3:9, 5:30] = True
    m[20:25, 2:4] = True
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(grey_png(40, 30))
    folder = tmp_path / "masks" / "a"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "1_grey.png"), m.astype(np.uint8) * 255)
    cv2.imwrite(str(folder / "2_deep.png"), m.astype(np.uint16) * 1000)
    pal = Image.fromarray(m.astype(np.uint8) * 3, "L").convert("P")
    pal.save(folder / "3_palette.png")
    cv2.imwrite(str(folder / "4_colour.png"), np.dstack([m * 0, m * 0, m * 200]).astype(np.uint8))
    ds = read_masks(tmp_path, "masks")
    insts = ds.images[0].instances
    assert len(insts) == 4 and not ds.warnings, ds.warnings
    for inst in insts:
        assert inst.is_lazy and inst.area == m.sum() and inst.bbox == [2.0, 3.0, 28.0, 22.0]
        assert np.array_equal(inst.full_mask(30, 40), m)


@pytest.mark.parametrize("kind", ["float32", "grey as colour"])
def test_label_images_of_floats_and_grey_colour_are_checked_a_band_at_a_time(kind, tmp_path,
                                                                              monkeypatch):
    from model.formats import mask_pngs
    from model.formats.mask_pngs import read_masks
    monkeypatch.setattr(mask_pngs, "STRIP_PIXELS", 50)  # bands of a row or two
    lab = np.zeros((30, 40), np.int64)
    lab[2:9, 3:12], lab[15:28, 20:39] = 3, 70_000 if kind != "grey as colour" else 200
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(grey_png(40, 30))
    (tmp_path / "labels").mkdir()
    if kind == "grey as colour":
        cv2.imwrite(str(tmp_path / "labels" / "a.png"), np.dstack([lab] * 3).astype(np.uint8))
    else:
        cv2.imwrite(str(tmp_path / "labels" / "a.tif"), lab.astype(kind))
    ds = read_masks(tmp_path, "labels")
    assert not ds.warnings, ds.warnings
    insts = ds.images[0].instances
    assert [i.area for i in insts] == [(lab == v).sum() for v in np.unique(lab)[1:]]
    for inst, v in zip(insts, np.unique(lab)[1:]):
        assert np.array_equal(inst.full_mask(30, 40), lab == v)
