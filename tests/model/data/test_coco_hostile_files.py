"""Hostile and malformed COCO files against the real CLI (export, evaluate), each in a
fresh process under an address-space limit: a regression that tries to allocate
gigabytes fails here instead of taking the machine down. Every case must end with
exit code 2 and one message that names the file and the annotation."""
from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.data import masks as M
from model.data.coco import load_dataset
from model.errors import CocoFormatError

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 2 * 1024 ** 3  # address space of the child; numpy + OpenCV + pycocotools fit easily
H, W = 48, 64


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          preexec_fn=_limit, capture_output=True, text=True, timeout=120)


def base() -> dict:
    m = np.zeros((H, W), bool)
    m[10:20, 10:30] = True
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 150.0,
             "bbox": [5.0, 5.0, 20.0, 15.0], "segmentation": [[5, 5, 25, 5, 25, 20, 5, 20]]},
            {"id": 8, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 200.0,
             "bbox": [10.0, 10.0, 20.0, 10.0], "segmentation": M.encode_rle(*M.tight_crop(m), H, W),
             "score": 0.9},
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }


def poly(value):
    def f(d):
        d["annotations"][0]["segmentation"][0][2] = value
    return f


def field(i, key, value):
    def f(d):
        d["annotations"][i][key] = value
    return f


def counts(value):
    def f(d):
        d["annotations"][1]["segmentation"]["counts"] = value
    return f


def image_size(w, h):
    def f(d):
        d["images"][0].update(width=w, height=h)
    return f


CASES = {  # name: (change, words the message must hold)
    "NaN polygon": (poly(float("nan")), ["annotation id 7", "finite"]),
    "Infinity polygon": (poly(float("inf")), ["annotation id 7", "finite"]),
    "1e12 polygon": (poly(1e12), ["annotation id 7", "far outside"]),
    "1e30 polygon": (poly(1e30), ["annotation id 7", "far outside"]),
    "400-digit polygon": (poly(10 ** 400), ["annotation id 7", "finite"]),
    "10^6 x 10^6 image": (image_size(10 ** 6, 10 ** 6), ["image id 1", "megapixel"]),
    "garbage RLE counts": (counts("!!!garbage"), ["annotation id 8", "RLE"]),
    "RLE counts overflowing the mask": (counts("0" + "o" * 6 + "0"), ["annotation id 8", "RLE"]),
    "negative counts list": (counts([-5, 3000, 77]), ["annotation id 8", "negative"]),
    "counts list of the wrong sum": (counts([5, 3]), ["annotation id 8", "sum"]),
    "Infinity bbox": (field(0, "bbox", [0, 0, float("inf"), 1]), ["annotation id 7", "bbox"]),
    "NaN area": (field(0, "area", float("nan")), ["annotation id 7", "area"]),
    "Infinity area": (field(1, "area", float("inf")), ["annotation id 8", "area"]),
    "NaN score": (field(1, "score", float("nan")), ["annotation id 8", "score"]),
    "2^70 id": (field(0, "id", 2 ** 70), ["annotation #0", "id"]),
}


def write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "in.json"
    p.write_text(json.dumps(doc))  # NaN and Infinity as a careless writer emits them
    return p


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_value_is_refused_by_the_loader(name, tmp_path):
    change, words = CASES[name]
    doc = copy.deepcopy(base())
    change(doc)
    with pytest.raises(CocoFormatError) as e:
        load_dataset(write(tmp_path, doc))
    for w in words:
        assert w in str(e.value), str(e.value)


@pytest.mark.slow
def test_every_hostile_case_through_the_cli_under_a_memory_limit(tmp_path):
    """One process per case: export refuses with rc 2, names the annotation, writes nothing."""
    for name, (change, words) in CASES.items():
        doc = copy.deepcopy(base())
        change(doc)
        src, out = write(tmp_path, doc), tmp_path / "out.json"
        r = run_cli("export", str(src), "--out", str(out))
        assert r.returncode == 2, (name, r.returncode, r.stderr[-2000:])
        assert str(src) in r.stderr and all(w in r.stderr for w in words), (name, r.stderr)
        assert "Traceback" not in r.stderr and not out.exists(), name


RAW = {  # files that are not JSON a COCO loader should even build
    "nested 100,000 deep": "[" * 100_000,
    "a 5,000-digit number": '{"images": [], "categories": [], "x": 1' + "0" * 5000 + "}",
    "binary garbage": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
    "empty": "",
    "a list at the top": "[]",
    "images not a list": '{"images": 3, "categories": []}',
    "an unhashable id": '{"images": [{"id": [1], "file_name": "a", "width": 1, "height": 1},'
                        '{"id": [1], "file_name": "b", "width": 1, "height": 1}],'
                        '"categories": []}',
}


@pytest.mark.parametrize("name", sorted(RAW))
def test_malformed_json_gets_one_clear_error(name, tmp_path):
    p = tmp_path / "bad.json"
    raw = RAW[name]
    p.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    with pytest.raises(CocoFormatError) as e:
        load_dataset(p)
    assert str(p) in str(e.value)


@pytest.mark.slow
def test_evaluate_refuses_hostile_ground_truth_and_results(tmp_path):
    gt = write(tmp_path, base())
    bad_gt = tmp_path / "gt_bad.json"
    doc = base()
    poly(1e30)(doc)
    bad_gt.write_text(json.dumps(doc))
    r = run_cli("evaluate", str(bad_gt), str(gt))
    assert r.returncode == 2 and "annotation id 7" in r.stderr and "Traceback" not in r.stderr
    res = tmp_path / "res.json"
    res.write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": float("nan"),
                                "bbox": [1, 2, 3, 4]},
                               {"image_id": 1, "category_id": 1, "score": 0.5,
                                "segmentation": {"size": [H, W], "counts": "!!!"}}]))
    r = run_cli("evaluate", str(gt), str(res))
    assert r.returncode == 2 and "result #0" in r.stderr and "result #1" in r.stderr
    assert "Traceback" not in r.stderr
