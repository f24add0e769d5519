"""Class names to COCO category ids and back, for the readers of formats that name
classes by text (labelme labels, mask PNG file names) and the writers that do."""
from __future__ import annotations

from model.data.annotations import Category, Dataset


class CategoryTable:
    """Class names to category ids 1..N, in order of first appearance."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.ids = {c.name: c.id for c in ds.categories}

    def id(self, name: str) -> int:
        if name not in self.ids:
            cid = max(self.ids.values(), default=0) + 1
            self.ds.categories.append(Category(cid, name))
            self.ids[name] = cid
        return self.ids[name]


def category_name(ds: Dataset, category_id: int) -> str:
    try:
        return ds.category(category_id).name
    except KeyError:
        return str(category_id)
