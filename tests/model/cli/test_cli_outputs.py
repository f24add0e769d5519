"""Every command's output path is checked the same way (model/cli/args.check_writable),
before any work: MaskLoop makes at most the output's own folder, and only where that
folder's parent exists. `audit --out /nonexistent/x/s.json` once made folders at the file
system's root."""
from __future__ import annotations

import json

import pytest

from model.cli.entry import main
from tests.helpers import make_coco


@pytest.fixture
def inputs(tmp_path):
    coco = make_coco(tmp_path)  # images under imgs/; the COCO's file names are a.png, b.png
    empty = tmp_path / "empty"
    empty.mkdir()
    pred = tmp_path / "pred.json"
    pred.write_text("[]")
    return {"coco": str(coco), "empty": str(empty), "pred": str(pred)}


# (command line with OUT for the output, whether OUT is a folder)
COMMANDS = {
    "predict": (["predict", "{empty}", "--weights", "none", "--out", "OUT"], False),
    "predict --from-boxes": (["predict", "{coco}", "--from-boxes", "--method", "box",
                              "--out", "OUT"], False),
    "train": (["train", "{coco}", "--weights", "none", "--iterations", "1", "--min-size", "64",
               "--max-size", "96", "--device", "cpu", "--out", "OUT"],
              False),
    "audit": (["audit", "{coco}", "--predictions", "{pred}", "--out", "OUT"], False),
    "simulate": (["simulate", "{coco}", "--out", "OUT"], False),
    "export (file)": (["export", "{coco}", "--out", "OUT"], False),
    "export (folder)": (["export", "{coco}", "--format", "yolo-seg", "--out", "OUT"], True),
    "evaluate --plots": (["evaluate", "{coco}", "{pred}", "--plots", "OUT"], True),
}


def _argv(name: str, inputs: dict, out) -> list[str]:
    argv, _folder = COMMANDS[name]
    return [str(out) if a == "OUT" else a.format(**inputs) for a in argv]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_output_under_a_missing_folder_is_refused_and_nothing_is_made(
        tmp_path, capsys, inputs, name):
    out = tmp_path / "nonexistent" / "x" / "out"
    if not COMMANDS[name][1]:
        out = out.with_suffix(".json")
    assert main(_argv(name, inputs, out)) == 2
    own = out if COMMANDS[name][1] else out.parent
    assert capsys.readouterr().err == (
        f"error: cannot write {out}: the folder {own.parent} does not exist (MaskLoop makes "
        f"only the output's own folder, {own})\n")
    assert not (tmp_path / "nonexistent").exists()


def test_the_outputs_own_folder_is_made(tmp_path, capsys, inputs):
    out = tmp_path / "new" / "s.json"  # tmp_path exists: new/ is the output's own folder
    res = [{"image_id": 0, "category_id": 0, "score": 0.9,
            "segmentation": [[10, 10, 51, 10, 51, 51, 10, 51]]}]
    (tmp_path / "pred.json").write_text(json.dumps(res))
    assert main(_argv("audit", inputs, out)) == 0
    assert out.is_file()
    plots = tmp_path / "plots"  # an output folder: made by its writer, its parent exists
    assert main(_argv("evaluate --plots", inputs, plots)) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["confusion.png", "pr_bbox.png",
                                                       "pr_segm.png"]
