"""Issue 19's side doors: state changes go through named methods of their owner, and
the library leaves process-wide settings (OpenCV's log level) alone."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model.data.annotations import Dataset, ImageRecord
from model.data.recovery import snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_a_record_learns_its_size_only_when_the_file_gave_none():
    rec = ImageRecord(1, "a.png")
    assert rec.learn_size(64, 48) and (rec.width, rec.height) == (64, 48)
    assert not rec.learn_size(10, 10) and (rec.width, rec.height) == (64, 48)
    with pytest.raises(ValueError, match="a.png: an image of 0x5 pixels"):
        ImageRecord(2, "a.png").learn_size(0, 5)


def test_ids_continue_after_a_copy_that_handed_out_more():
    ds = Dataset([], [])
    assert ds.new_annotation_id() == 1
    copy = snapshot(ds, set())
    assert copy.new_annotation_id() == 2 and copy.new_annotation_id() == 3
    ds.continue_ids_from(copy)
    assert ds.new_annotation_id() == 4
    ds.continue_ids_from(Dataset([], []))  # never backwards
    assert ds.new_annotation_id() == 5


def test_importing_the_library_leaves_opencvs_log_level():
    code = ("import cv2; L = cv2.utils.logging; before = L.getLogLevel(); "
            "import model.data.images, model.formats.detect, model.net.predictor; "
            "print(before == L.getLogLevel())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "True"
