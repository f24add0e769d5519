"""The review state the instance list, the saved file and the fine-tune dialog show
(model/editing/review.py review_state), and `decided` read back from a file (issue 18, 30)."""
from __future__ import annotations

import numpy as np
import pytest

from model.data import provenance as P
from model.editing import review as R
from model.data.annotations import ImageRecord, Instance
from model.data.coco_validate import validate
from model.errors import CocoFormatError


def square(**kw) -> Instance:
    return Instance(1, np.ones((4, 4), bool), (2, 2), **kw)


def test_review_state_says_what_the_training_rule_means():
    gt = Instance.from_annotation({"id": 1, "image_id": 1, "category_id": 1,
                                   "bbox": [0, 0, 4, 4], "segmentation": [[0, 0, 4, 0, 4, 4]]},
                                  8, 8)
    cases = {"unreviewed": square(source="model", score=0.9),
             "accepted": square(source="model", score=0.9, review="accepted"),
             "rejected": square(source="model", score=0.9, review="rejected"),
             "decided": square()}  # drawn in this session
    cases["edited"] = square(source="edited", score=0.9)
    for want, inst in cases.items():
        assert P.review_state(inst) == ("decided" if want == "edited" else want)
        assert P.is_decided(inst) == (want != "unreviewed")
    assert (gt.source, gt.review, P.review_state(gt)) == ("human", "unreviewed", "decided")
    ts = R.training_set([ImageRecord(1, "a.png", 8, 8, [*cases.values(), gt])])
    assert ts.reviews == {"unreviewed": 1, "accepted": 1, "rejected": 1, "decided": 3}


@pytest.mark.parametrize("source, memory", [("human", "unreviewed"), ("edited", "unreviewed"),
                                            ("model", "accepted")])
def test_decided_in_a_file_reads_back(source, memory):
    ann = {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.5,
           "segmentation": [[0, 0, 4, 0, 4, 4]], "source": source, "review": "decided"}
    inst = Instance.from_annotation(ann, 8, 8)
    assert inst.review == memory and inst.source == source
    assert P.review_state(inst) == ("decided" if source != "model" else "accepted")
    assert not inst.provenance_changed


def test_the_validator_takes_decided_and_refuses_other_words():
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4],
                             "segmentation": [[0, 0, 4, 0, 4, 4]], "iscrowd": 0,
                             "area": 8.0, "review": "decided"}]}
    validate(data)
    data["annotations"][0]["review"] = "maybe"
    with pytest.raises(CocoFormatError, match="decided"):
        validate(data)
