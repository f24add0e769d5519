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

def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def exif_orientation(value: int) -> bytes:
    """A big-endian TIFF header with one IFD entry: Orientation (0x0112) = value."""
    return (b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, value, 0)
            + struct.pack(">I", 0))


def zero_png(w: int, h: int, exif: bytes | None = None) -> bytes:
    """A w x h 1-bit palette PNG of zeros (eXIf, if any, after the pixels, where Pillow only
    finds it by decoding them), built without a w*h buffer: after a full flush, deflate
    writes the same bytes for the same block of zeros, so the stream is one block repeated."""
    n = h * (1 + (w + 7) // 8)  # a filter byte per row, then the packed row: all zeros
    block = 1 << 22
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(bytes(n % block)) + last.flush()
    stream = b"\x78\xda" + body * (n // block) + tail + struct.pack(">I", ((n % 65521) << 16) | 1)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 3, 0, 0, 0))
            + _chunk(b"PLTE", bytes(3) + b"\xff" * 3) + _chunk(b"IDAT", stream)
            + (_chunk(b"eXIf", exif) if exif else b"") + _chunk(b"IEND", b""))


# ------------------------------------------------------ the PNG header check decodes nothing

def test_exif_after_the_pixels_is_read_as_opencv_reads_it(tmp_path):
    from model.data.images import header_size, read_image, read_size
    p = tmp_path / "turned.png"
    p.write_bytes(zero_png(40, 20, exif_orientation(6)))
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
    mid.write_bytes(zero_png(20_000, 16_000))
    huge.write_bytes(zero_png(60_000, 50_000, exif_orientation(6)))
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
