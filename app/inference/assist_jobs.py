"""The model-assist jobs as they run on the inference thread (Qt-free work)."""
from __future__ import annotations

import numpy as np

from model.net import assist as A


def run_assist(predictor, cache: A.FeatureCache, req, image: np.ndarray) -> list:
    """BoxMasks for "boxes" (the model's heads, or the classical fallback) and for
    "routes" (the model's heads only), candidate Instances for "candidates"."""
    h, w = image.shape[:2]
    model = predictor if req.use_model and predictor is not None else None
    if req.kind == "boxes":
        if model is None:
            out = []
            for box in req.boxes:
                mask, offset = A.classical_mask(image, box)
                out.append(A.BoxMask(mask, offset, None, 0.0))
            return out
        return model.assist_boxes(image, req.image_id, req.boxes, req.category_ids, cache)
    if req.kind == "fill":  # box-only annotations: (index, box, class) -> (index, mask, by)
        out = []
        known = [model is not None and model.knows_class(c) for _k, _b, c in req.boxes]
        idx = [j for j, ok in enumerate(known) if ok]
        by_model = {}
        if idx:
            got = model.assist_boxes(image, req.image_id, [req.boxes[j][1] for j in idx],
                                     [req.boxes[j][2] for j in idx], cache)
            by_model = {j: bm for j, bm in zip(idx, got)}
        for j, (k, box, _cat) in enumerate(req.boxes):
            if j in by_model:
                out.append((k, by_model[j].mask, by_model[j].offset, predictor.model_id))
            else:
                mask, offset = A.classical_mask(image, box)
                out.append((k, mask, offset, A.FALLBACK))
        return out
    if req.kind == "routes":  # each object's box by both routes: (BoxMask, (mask, offset))
        if model is None:
            return []
        got = model.assist_boxes(image, req.image_id, req.boxes, req.category_ids, cache)
        return [(bm, A.classical_mask(image, box)) for bm, box in zip(got, req.boxes)]
    if req.kind == "candidates":
        if model is None:
            return []
        return model.assist_candidates(image, req.image_id, cache)
    raise ValueError(f"unknown assist job {req.kind!r} for a {w}x{h} image")
