"""YOLO class names as a real YAML parser reads them (issue 18, items 7 and 8): a flow list
that wraps (PyYAML's default width, supervision's writer), names that need quoting, the
total of skipped lines always said, and the made-up class0... names said once."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

import main
from model.data.annotations import Category, Dataset, Instance
from model.formats.yolo import parse_data_yaml, read_yolo, write_yolo

COCO80 = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
          "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
          "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
          "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
          "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
          "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
          "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
          "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
          "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
          "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
          "teddy bear", "hair drier", "toothbrush"]


def yolo_folder(root, lines: list[str], yaml_text: str | None = None, size=(32, 48)):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.new("L", size).save(root / "images" / "a.png")
    (root / "labels" / "a.txt").write_text("".join(line + "\n" for line in lines))
    if yaml_text is not None:
        (root / "data.yaml").write_text(yaml_text, encoding="utf-8")
    return root


def test_a_flow_list_that_wraps_keeps_every_class_and_whole_names(tmp_path):
    text = yaml.safe_dump({"nc": 80, "names": COCO80}, default_flow_style=True)
    assert "traffic\n" in text or "\n" in text.split("[", 1)[1].rstrip("\n")  # it does wrap
    root = yolo_folder(tmp_path / "y", ["79 0.5 0.5 0.2 0.2", "9 0.1 0.1 0.9 0.1 0.5 0.9"], text)
    ds = read_yolo(root)
    assert [c.name for c in ds.categories] == COCO80
    assert ds.warnings == []
    assert [i.category_id for i in ds.images[0].instances] == [80, 10]


def test_supervision_style_yaml_and_comments_inside_quotes():
    text = ("names:\n- person\n- 'x'' #y'\n- \"caf\\xE9 # kept\"\nnc: 3\n"
            "path: /data  # a comment\ndownload: |\n  line one\n  line two\n")
    got = parse_data_yaml(text)
    assert got["names"] == ["person", "x' #y", "café # kept"]
    assert got["download"] == "line one\nline two\n" and got["path"] == "/data"


@pytest.mark.parametrize("text, why", [
    ("names: [a, b\n", "YAML"), ("- a\n- b\n", "mapping"), ("names: {x: a}\n", "index"),
    ("names: [[a], b]\n", "name"), ("names: {0: a, 100000000: b}\n", "range"),
])
def test_a_data_yaml_that_cannot_be_read_says_why(text, why):
    with pytest.raises(ValueError) as e:
        parse_data_yaml(text)
    assert why in str(e.value) and "\n" not in str(e.value)


NAMES = ['x" #y', "line\u2028sep", "para\u2029sep", "", "yes", "café # c", "tab\tin",
         "a: b", "- dash", "[flow]", "\x7fdel\x85nel\ufeffbom", "猫" * 300]


def test_names_that_need_quoting_round_trip_through_pyyaml_and_maskloop(tmp_path):
    ds = Dataset([Category(i + 1, n) for i, n in enumerate(NAMES)], image_root=tmp_path)
    Image.new("L", (16, 16)).save(tmp_path / "a.png")
    rec = ds.add_image("a.png", 16, 16)
    mask = np.ones((4, 4), bool)
    for c in ds.categories:
        ds.add_instance(rec, Instance(c.id, mask, (2, 2)))
    write_yolo(ds, tmp_path / "out")
    text = (tmp_path / "out" / "data.yaml").read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)["names"]
    assert [loaded[i] for i in range(len(NAMES))] == NAMES
    back = read_yolo(tmp_path / "out")
    assert [c.name for c in back.categories] == NAMES and back.warnings == []


def test_without_a_names_file_the_made_up_names_are_said_once(tmp_path):
    root = yolo_folder(tmp_path / "y", ["0 0.5 0.5 0.2 0.2", "2 0.5 0.5 0.2 0.2"])
    ds = read_yolo(root)
    assert [c.name for c in ds.categories] == ["class0", "class1", "class2"]
    said = [w for w in ds.warnings if "class0" in w]
    assert len(said) == 1 and str(root / "data.yaml") in said[0] and "classes.txt" in said[0]
    (root / "data.yaml").write_text("path: .\ntrain: images\n")  # a data.yaml without names
    said = [w for w in read_yolo(root).warnings if "class0" in w]
    assert len(said) == 1 and "no names" in said[0] and str(root / "data.yaml") in said[0]


def test_the_cli_always_says_how_many_lines_were_skipped(tmp_path, capsys):
    bad = [f"0 0.1 0.1 0.{k % 9 + 1}" for k in range(540)]  # three coordinates: skipped
    root = yolo_folder(tmp_path / "y", bad + ["0 0.1 0.1 0.9 0.1 0.5 0.9"], "names: [a]\n")
    out = tmp_path / "o.json"
    assert main.main(["export", str(root), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") <= 21
    assert "540 line(s) skipped" in err and "541 warnings in all" in err
