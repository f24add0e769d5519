"""`predict --from-boxes` says what became of every box, and its counts add up: filled by
the model or a classical method, found nothing in the box, or on an image that could not
be read."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from model.cli.entry import main
from model.data.coco import load_dataset

H, W = 64, 80


def test_from_boxes_counts_add_up(tmp_path, capsys):
    """5 boxes the ellipse fills, one outside the image (nothing in it), two on an image
    that is missing: 5 + 1 + 2 = 8, and the ellipse filled 5, not 6."""
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "a.png")

    def box(i, image_id, bbox):
        return {"id": i, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": bbox}
    anns = [box(i, 1, [2 + 12 * i, 5, 10, 10]) for i in range(1, 6)]
    anns += [box(6, 1, [200, 100, 10, 10]), box(7, 2, [5, 5, 10, 10]),
             box(8, 2, [20, 5, 10, 10])]
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H},
                      {"id": 2, "file_name": "missing.png", "width": W, "height": H}],
           "categories": [{"id": 1, "name": "thing"}], "annotations": anns}
    src = tmp_path / "boxes.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "filled.json"
    assert main(["predict", str(src), "--from-boxes", "--method", "ellipse",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (f"wrote {out}: 5 of 8 box-only annotation(s) filled (5 by the inscribed "
            "ellipse); 1 found nothing in the box and 2 are on images that could not be "
            "read: they stay box-only") in err
    back = load_dataset(out)
    assert sum(i.box_only for _r, i in back.instances()) == 3
