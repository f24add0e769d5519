"""The model-assist jobs as they run on the inference thread (Qt-free work)."""
from __future__ import annotations

import numpy as np

from model.net import assist as A


def run_assist(predictor, cache: A.FeatureCache, req, image: np.ndarray) -> list:
    """BoxMasks for "boxes" (the model's heads, or the classical fallback), candidate
    Instances for "candidates"."""
    h, w = image.shape[:2]
    if req.use_model and hasattr(predictor, "assist_boxes") and req.kind != "fill":  # tests
        if req.kind == "boxes":
            return predictor.assist_boxes(image, req.boxes, req.category_ids)
        return predictor.assist_candidates(image)
    if req.kind == "boxes":
        if not req.use_model or predictor is None:
            out = []
            for box in req.boxes:
                mask, offset = A.classical_mask(image, box)
                out.append(A.BoxMask(mask, offset, None, 0.0))
            return out
        feats = cache.get(predictor, req.image_id, image)
        return A.box_masks(predictor, feats, [tuple(b) for b in req.boxes], req.category_ids)
    if req.kind == "fill":  # box-only annotations: (index, box, class) -> (index, mask, by)
        out = []
        known = [A.model_label(predictor, c) is not None for _k, _b, c in req.boxes] \
            if req.use_model and predictor is not None and not hasattr(predictor, "assist_boxes") \
            else [False] * len(req.boxes)
        idx = [j for j, ok in enumerate(known) if ok]
        by_model = {}
        if idx:
            feats = cache.get(predictor, req.image_id, image)
            got = A.box_masks(predictor, feats, [req.boxes[j][1] for j in idx],
                              [req.boxes[j][2] for j in idx])
            by_model = {j: bm for j, bm in zip(idx, got)}
        for j, (k, box, _cat) in enumerate(req.boxes):
            if j in by_model:
                out.append((k, by_model[j].mask, by_model[j].offset, predictor.model_id))
            else:
                mask, offset = A.classical_mask(image, box)
                out.append((k, mask, offset, A.FALLBACK))
        return out
    if req.kind == "candidates":
        if predictor is None or not req.use_model:
            return []
        feats = cache.get(predictor, req.image_id, image)
        return A.candidates(predictor, feats)
    raise ValueError(f"unknown assist job {req.kind!r} for a {w}x{h} image")
