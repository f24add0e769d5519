"""The editing tools' shared state (brush size, the class for new instances, 'new
instance' armed, unoccupied mode) and the actions that turn strokes, polygons and
clean-ups into Edits for the Document's one writer.

A stroke paints into working buffers; the Document draws their preview copies
(only the stroke's rectangle is recomposited). On mouse release it becomes one step.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from model.editing import user_actions as E
from model.data.annotations import ImageRecord, Instance
from model.editing.ops import Edit, Op
from model.editing.pixel_ops import Rect
from model.editing.stroke_engine import Stroke, polygon_ops
from model.effort.action_costs import REJECT, RELABEL, STROKE, VERTEX

from .document import Document


NEW_CLASS = "object"  # the class the first new instance makes when the dataset has none


class DrawingController(QObject):
    brushSizeChanged = Signal(int)
    categoryChanged = Signal(int)
    newInstanceArmed = Signal(bool)
    message = Signal(str)

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.brush_size = 20  # diameter in image pixels
        self.unoccupied = False
        self.new_armed = False
        self.category_id: int | None = None
        self._chosen = False
        self.stroke: Stroke | None = None
        self._stroke_ops: list[Op] = []
        doc.datasetReset.connect(self._on_reset)
        doc.currentChanged.connect(lambda _row: self.cancel_stroke())

    def _on_reset(self) -> None:
        self.cancel_stroke()
        self.category_id = None  # an id of the last dataset means another class here
        self.set_category(self.default_class())

    def cancel_stroke(self) -> None:
        """Drop a stroke in progress (its image is no longer shown); nothing changes."""
        st, self.stroke = self.stroke, None
        if st is not None:
            self.doc.end_preview(st.rec, st.rect)

    # ---------------------------------------------------------------- settings
    def set_brush_size(self, size: int) -> None:
        size = max(1, min(int(size), 1000))
        if size != self.brush_size:
            self.brush_size = size
            self.brushSizeChanged.emit(size)

    def set_category(self, category_id: int | None, chosen: bool = False) -> None:
        """The class for new instances; `chosen` when the user picked it (the box tool
        then segments that class instead of asking the model for one)."""
        self.category_id = category_id
        self._chosen = chosen
        if category_id is not None:
            self.categoryChanged.emit(category_id)

    def default_class(self) -> int | None:
        """The class a new instance gets: the person's last one while it exists, else
        the dataset's own first class. Never a class only a model brought (adopted):
        predictions must not choose the person's class. None: there is none yet, and
        the first new instance makes one (new_class)."""
        ds = self.doc.dataset
        cats = ds.categories if ds is not None else []
        if any(c.id == self.category_id for c in cats):
            return self.category_id
        return next((c.id for c in cats if not c.adopted), None)

    def chosen_category(self) -> int | None:
        ds = self.doc.dataset
        if self._chosen and ds is not None and any(c.id == self.category_id
                                                   for c in ds.categories):
            return self.category_id
        return None

    def new_class(self) -> tuple[int, list[Op]]:
        """The class for a new instance, and the op that makes it when the dataset has
        no class at all. Nothing is applied yet."""
        ds, ops = self.doc.dataset, []
        default = self.default_class()
        if default is None:
            cat = E.new_category(ds, NEW_CLASS)
            ops.append(E.add_category_op(ds, cat))
            default = cat.id
        if default != self.category_id:
            self.set_category(default)
        return self.category_id, ops

    def arm_new_instance(self, on: bool = True) -> None:
        self.new_armed = on
        self.newInstanceArmed.emit(on)

    def _new_target(self) -> tuple[Instance, list[Op]]:
        """A fresh, empty instance of the current class (see new_class)."""
        cat, ops = self.new_class()
        self.arm_new_instance(False)
        return Instance(cat, source="human", id=self.doc.dataset.new_annotation_id()), ops

    def _editable(self) -> ImageRecord | None:
        rec = self.doc.current
        return rec if rec is not None and rec.size_known else None

    def _others(self, rec: ImageRecord, target: Instance | None) -> list[Instance]:
        return [i for i in self.doc.drawn(rec) if i is not target]

    def push_edit(self, edit: Edit | None, select: Instance | None = None) -> bool:
        if edit is None or not self.doc.push(edit):
            return False
        rec = self.doc.current
        if select is not None and rec is not None and any(i is select for i in rec.instances):
            self.doc.select(select)
        return True

    # ------------------------------------------------------------------ strokes
    def begin_stroke(self, x: float, y: float, erase: bool) -> bool:
        rec = self._editable()
        if rec is None:
            return False
        target, ops, new = self.doc.selected, [], False
        if not erase and (self.new_armed or target is None):
            target, ops = self._new_target()
            new = True
        self._stroke_ops = ops
        self.stroke = Stroke(rec, self.brush_size / 2.0, erase, target,
                             self._others(rec, target), self.unoccupied, new)
        self.extend_stroke(x, y)
        return True

    def extend_stroke(self, x: float, y: float) -> Rect | None:
        st = self.stroke
        if st is None:
            return None
        rect = st.add(x, y)
        if rect is not None:
            self.doc.show_preview(st.rec, st.previews, rect)
        return rect

    def end_stroke(self) -> Edit | None:
        st, self.stroke = self.stroke, None
        if st is None:
            return None
        ops = st.finish()
        self.doc.end_preview(st.rec, None if ops else st.rect)
        if not ops:  # a click that changed nothing leaves no trace
            return None
        edit = Edit("Erase stroke" if st.erase else "Brush stroke",
                    self._stroke_ops + ops + [E.touch_status(st.rec)], gestures={STROKE: 1})
        self.push_edit(edit, st.target)
        return edit

    # ----------------------------------------------------------------- polygon
    def apply_polygon(self, points: list[tuple[float, float]], subtract: bool) -> Edit | None:
        rec = self._editable()
        if rec is None:
            return None
        target, ops, new = self.doc.selected, [], False
        if subtract and (target is None or self.new_armed):
            self.message.emit("Select the instance to cut the polygon out of")
            return None
        if not subtract and (self.new_armed or target is None):
            target, ops = self._new_target()
            new = True
        changed = polygon_ops(rec, target, points, subtract, self._others(rec, target),
                              self.unoccupied, new)
        if not changed:
            return None
        edit = Edit("Subtract polygon" if subtract else "Add polygon",
                    ops + changed + [E.touch_status(rec)], gestures={VERTEX: len(points)})
        self.push_edit(edit, target)
        return edit

    # ------------------------------------------------------------ instance ops
    def delete_selected(self) -> None:
        rec = self.doc.current
        if rec is not None and self.doc.selection:
            edit = E.delete_edit(rec, list(self.doc.selection))
            edit.gestures = {REJECT: len(self.doc.selection)}  # a deletion rejects each one
            self.push_edit(edit)

    def relabel_or_choose(self, category_id: int) -> None:
        """Relabel the selection, or set the class for new instances when none."""
        rec = self.doc.current
        if rec is not None and self.doc.selection:
            name = self.doc.dataset.category_names().get(category_id, str(category_id))
            edit = E.relabel_edit(rec, list(self.doc.selection), category_id, name)
            n = sum(1 for op in edit.ops if getattr(op, "name", None) == "category_id")
            if n:
                edit.gestures = {RELABEL: n}
            self.push_edit(edit)
        else:
            self.set_category(category_id, chosen=True)

    def fill_holes(self) -> None:
        rec, inst = self.doc.current, self.doc.selected
        if rec is not None and inst is not None:
            self.push_edit(E.fill_holes_edit(rec, inst))

    def remove_islands(self, min_pixels: int) -> None:
        rec, inst = self.doc.current, self.doc.selected
        if rec is not None and inst is not None:
            self.push_edit(E.remove_islands_edit(rec, inst, min_pixels))

    def merge(self) -> None:
        rec = self.doc.current
        if rec is not None and len(self.doc.selection) >= 2:
            keep = self.doc.selection[0]
            self.push_edit(E.merge_edit(rec, list(self.doc.selection)), keep)
        else:
            self.message.emit("Select two or more instances (Ctrl+click) to merge")
