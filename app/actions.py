"""Every QAction of the main window in one table: name, text, shortcuts, menu.

The Help > Keyboard shortcuts dialog and the README table are made from it, so the
documented keys are the keys that work. Keys were chosen so nothing collides:
single letters act on the current image, Ctrl combinations on files and the model.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionDef:
    name: str  # objectName, e.g. actionAccept
    text: str
    menu: str
    keys: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False


ACTIONS: list[ActionDef] = [
    ActionDef("actionOpen", "&Open File…", "File", ("Ctrl+O",), "Open an image or a COCO .json file"),
    ActionDef("actionOpenFolder", "Open &Folder…", "File", ("Ctrl+Shift+O",), "Open a folder of images"),
    ActionDef("actionSave", "&Save", "File", ("Ctrl+S",), "Save the COCO file"),
    ActionDef("actionSaveAs", "Save &As…", "File", ("Ctrl+Shift+S",), "Save the COCO file elsewhere"),
    ActionDef("actionAutosave", "Autosave &interval…", "File", (),
              "How often unsaved work is copied to the .maskloop/ recovery file"),
    ActionDef("actionQuit", "&Quit", "File", ("Ctrl+Q",)),
    ActionDef("actionUndo", "&Undo", "Edit", ("Ctrl+Z",)),
    ActionDef("actionRedo", "&Redo", "Edit", ("Ctrl+Shift+Z", "Ctrl+Y")),
    ActionDef("actionHistory", "&History", "Edit", ("Ctrl+H",), "Show the undo history",
              checkable=True),
    ActionDef("actionSelectTool", "&Select", "Tools", ("V",),
              "Click selects the top-most instance; Ctrl+click adds to the selection",
              checkable=True),
    ActionDef("actionBrush", "&Brush", "Tools", ("B",),
              "Paint into the selected instance (Shift: erase); nothing selected: a new instance",
              checkable=True),
    ActionDef("actionEraser", "&Eraser", "Tools", ("E",),
              "Erase from the selected instance, or from every instance when none is selected",
              checkable=True),
    ActionDef("actionPolygon", "&Polygon", "Tools", ("P",),
              "Click vertices; Enter or double click adds the area (Shift: subtracts); "
              "Backspace: undo vertex; Esc: cancel", checkable=True),
    ActionDef("actionNewInstance", "&New instance", "Tools", ("N",),
              "The next stroke or polygon starts a new instance of the current class"),
    ActionDef("actionDeleteInstance", "&Delete instance", "Tools", ("Del",)),
    ActionDef("actionBrushSmaller", "Smaller brush", "Tools", ("[",)),
    ActionDef("actionBrushLarger", "Larger brush", "Tools", ("]",)),
    ActionDef("actionUnoccupied", "Paint only &unoccupied pixels", "Tools", ("O",),
              "Brush strokes never take pixels from other instances", checkable=True),
    ActionDef("actionPickClass", "Choose &class…", "Tools", ("Ctrl+K",),
              "Type-ahead class picker: relabels the selection, or sets the class for new ones"),
    ActionDef("actionFillHoles", "&Fill holes", "Tools", (), "Fill the holes of the selected instance"),
    ActionDef("actionRemoveIslands", "Remove small &islands…", "Tools", (),
              "Remove parts of the selected instance smaller than N pixels"),
    ActionDef("actionMerge", "&Merge selected", "Tools", ("Ctrl+M",),
              "Merge the instances Ctrl+clicked into the first one selected"),
    ActionDef("actionCategories", "C&ategories…", "Tools", (),
              "Add, rename, recolour and delete classes"),
    ActionDef("actionAccept", "&Accept instance", "Review", ("A",),
              "Accept the selected instance and select the next unreviewed one"),
    ActionDef("actionReject", "&Reject instance", "Review", ("R",),
              "Reject the selected instance (kept in the file as rejected) and move on"),
    ActionDef("actionToggleHidden", "&Hide / show instance", "Review", ("H",)),
    ActionDef("actionNextInstance", "Next instance", "Review", ("Tab",)),
    ActionDef("actionPrevInstance", "Previous instance", "Review", ("Shift+Tab",)),
    ActionDef("actionMarkDone", "&Mark image done", "Review", ("M",),
              "Accept every prediction still shown, mark the image done, go to the next unreviewed one"),
    ActionDef("actionNextImage", "&Next image", "Review", ("D", "PgDown")),
    ActionDef("actionPrevImage", "&Previous image", "Review", ("Q", "PgUp")),
    ActionDef("actionNextUnreviewed", "Next &unreviewed image", "Review", ("U",)),
    ActionDef("actionPredict", "&Predict this image", "Model", ("Ctrl+P",),
              "Run the model on the current image (reviewed instances are kept)"),
    ActionDef("actionPredictAll", "Predict &all unreviewed images", "Model", ("Ctrl+Shift+P",),
              "Run the model over every image not marked done"),
    ActionDef("actionPredictAllImages", "Predict all images (including done)", "Model", (),
              "Run the model over every image; reviewed instances are never overwritten"),
    ActionDef("actionCancel", "&Cancel prediction", "Model", ("Shift+Esc",)),
    ActionDef("actionFineTune", "&Fine-tune on reviewed images…", "Model", ("Ctrl+T",),
              "Train the model on the saved corrections (runs in the background)"),
    ActionDef("actionCancelTraining", "Cancel fine-tuning", "Model", (),
              "Stop training after the current iteration; the checkpoint is kept"),
    ActionDef("actionAutoPredict", "Predict &automatically", "Model", (),
              "Predict each new image when it is shown, and prefetch the next two",
              checkable=True),
    ActionDef("actionOpenCheckpoint", "Open &checkpoint…", "Model", (),
              "Use a fine-tuned checkpoint (.pt) or a torchvision state_dict (.pth)"),
    ActionDef("actionFit", "&Fit to window", "View", ("F",)),
    ActionDef("actionActualSize", "Actual size (1:1)", "View", ("0",)),
    ActionDef("actionToggleLabels", "Show &labels", "View", ("L",), checkable=True),
    ActionDef("actionColorByClass", "&Colour by class", "View", ("C",), checkable=True),
    ActionDef("actionShortcuts", "&Keyboard shortcuts", "Help", ("F1",)),
    ActionDef("actionAbout", "&About MaskLoop", "Help", ()),
]


def build_actions(owner: QWidget, prebuilt: dict[str, QAction] | None = None
                  ) -> dict[str, QAction]:
    """Create the actions as children of owner (so their shortcuts work window-wide).

    `prebuilt` supplies actions made elsewhere (QUndoStack's undo/redo) to be named
    and given their keys here.
    """
    prebuilt = prebuilt or {}
    out = {}
    for d in ACTIONS:
        a = prebuilt.get(d.name) or QAction(d.text, owner)
        a.setObjectName(d.name)
        if d.keys:
            a.setShortcuts([QKeySequence(k) for k in d.keys])
        tip = d.tip or d.text.replace("&", "").rstrip("…")
        if d.keys:
            tip += f" ({', '.join(d.keys)})"
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.setCheckable(d.checkable)
        owner.addAction(a)
        out[d.name] = a
    return out


def shortcut_rows() -> list[tuple[str, str, str]]:
    """(menu, action, keys) for the help dialog and the README."""
    return [(d.menu, d.text.replace("&", ""), ", ".join(d.keys)) for d in ACTIONS if d.keys]


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td>{m}</td><td>{t}</td><td><b>{k}</b></td></tr>"
                   for m, t, k in shortcut_rows())
    extra = ("<tr><td>Tools</td><td>Class 1-9 (relabel the selection, or the next new "
             "instance)</td><td><b>1 ... 9</b></td></tr>"
             "<tr><td>Tools</td><td>Brush size</td><td><b>Ctrl + wheel</b></td></tr>"
             "<tr><td>Polygon</td><td>Close / subtract / undo vertex / cancel</td>"
             "<td><b>Enter or double click / Shift+Enter / Backspace / Esc</b></td></tr>"
             "<tr><td>Canvas</td><td>Zoom</td><td><b>mouse wheel</b></td></tr>"
             "<tr><td>Canvas</td><td>Pan</td><td><b>middle drag, or Space + drag</b></td></tr>"
             "<tr><td>Canvas</td><td>Select instance / add to selection</td>"
             "<td><b>click / Ctrl+click</b></td></tr>")
    return ("<table cellspacing=6><tr><th align=left>Menu</th><th align=left>Action</th>"
            f"<th align=left>Keys</th></tr>{rows}{extra}</table>")
