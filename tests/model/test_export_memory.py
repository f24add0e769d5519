"""Issue 18 item 19: a 14000 x 14000 image with ten full-image uncompressed RLE masks and
one RLE of 2,000,000 runs is exported to every format in a fresh process under an
address-space limit, and the process's peak resident memory must stay under 1 GiB (it
took 5.8-7.3 GB when decoding made an int64 array of the image's size per mask).

One child runs the six exports one after the other (the file is read once a format,
as the CLI reads it), so the peak it reports after each is that format's or less."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SIDE = 14_000
RUNS = 2_000_000
TARGET = 1024 ** 3  # resident, what the issue asks
LIMIT = 3 * 1024 ** 3  # address space: a regression fails fast instead of swapping
FORMATS = ("coco-rle", "coco-polygon", "coco-polygon-only", "yolo-seg", "labelme", "masks")

# The peak is the kernel's high-water mark of this process's own memory (VmHWM);
# ru_maxrss would not do: Linux carries it over exec from the forking pytest process.
CHILD = r"""
import sys
sys.path.insert(0, ".")
import main
src, out = sys.argv[1], sys.argv[2]
for fmt in sys.argv[3:]:
    target = f"{out}/{fmt}" + (".json" if fmt.startswith("coco") else "")
    rc = main.main(["export", src, "--out", target, "--format", fmt])
    with open("/proc/self/status") as f:
        peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) * 1024
    print(f"PEAK {fmt} {rc} {peak}", flush=True)
"""


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def hostile_file(path: Path) -> None:
    total = SIDE * SIDE
    runs = np.random.default_rng(0).integers(1, 190, RUNS - 1)
    runs = np.append(runs, total - runs.sum())  # the last run takes up the rest
    full = {"size": [SIDE, SIDE], "counts": [0, total]}
    anns = [{"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": full}
            for k in range(10)]
    anns.append({"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 0,
                 "segmentation": {"size": [SIDE, SIDE], "counts": runs.tolist()}})
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "big.png", "width": SIDE, "height": SIDE}],
        "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_every_export_format_stays_under_1_gib_on_a_196_megapixel_image(tmp_path):
    src = tmp_path / "big.json"
    hostile_file(src)
    r = subprocess.run([sys.executable, "-c", CHILD, str(src), str(tmp_path), *FORMATS],
                       cwd=ROOT, preexec_fn=_limit, capture_output=True, text=True, timeout=900)
    peaks = {}
    for line in r.stdout.splitlines():
        if line.startswith("PEAK "):
            _, fmt, rc, peak = line.split()
            peaks[fmt] = (int(rc), int(peak))
    assert r.returncode == 0 and list(peaks) == list(FORMATS), (r.stdout[-3000:],
                                                                r.stderr[-3000:])
    for fmt, (rc, peak) in peaks.items():
        assert rc == 0, (fmt, r.stdout[-3000:])
        assert peak <= TARGET, f"{fmt}: peak resident {peak / 1024 ** 2:.0f} MiB"
    out = r.stdout
    assert out.count("round trip: 11/11 masks pixel-identical") == 2  # both COCO formats
    assert "1 outline too long" in out  # the 2,000,000-run mask stays RLE in coco-polygon
    # the polygon-only formats leave it out and say so; every full-image mask is written
    assert out.count("10 instances as 10 polygons") == 3
    assert out.count("instance 11 left out: its outline is") == 3
    assert "11 instance masks" in out
    assert sorted(p.name for p in (tmp_path / "masks" / "masks" / "big").iterdir())[0] == \
        "001_thing.png"
