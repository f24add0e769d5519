"""Every QAction of the main window in one table, which also builds the menus and
the toolbars. The Help > Keyboard shortcuts dialog and the README table come from it
too, so the documented keys are the keys that work. Keys were chosen so nothing
collides: single letters act on the current image, Ctrl combinations on files and
the model. The keys here are the defaults; a user's changes (app/window/shortcuts.py)
are laid over them at start-up.

Tab and Shift+Tab are nobody's shortcut: they move the keyboard focus as in every Qt
app, and the canvas and the instance list turn them into next / previous instance
themselves (so `.` and `,` do that everywhere).
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QStyle, QToolBar, QWidget

MENUS = ("File", "Edit", "Tools", "Review", "Model", "View", "Help")
# the toolbars of the table, in their order: the first two make the top row, the
# options (brush size, class, unoccupied, vertex tolerance) start the second row,
# beside the model's (weights, device), so all of them fit a 1280-pixel-wide window
TOOLBAR_TITLES = {"mainToolBar": "Main", "toolsToolBar": "Tools",
                  "optionsToolBar": "Tool options"}


@dataclass(frozen=True)
class ActionDef:
    name: str  # objectName, e.g. actionAccept
    text: str
    menu: str
    keys: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False
    toolbar: str = ""  # objectName of the toolbar it also sits in
    icon: str = ""  # a QStyle standard pixmap name
    separator: bool = False  # a separator before it in its menu
    hidden: bool = False  # keys only: in no menu and no toolbar (the class keys 1-9)
    short: str = ""  # its text in a toolbar, where the menu's would be too long


@dataclass(frozen=True)
class SubmenuDef:
    name: str  # attribute the window keeps it under
    text: str
    menu: str
    separator: bool = False


A, S = ActionDef, SubmenuDef
ACTIONS: list[ActionDef | SubmenuDef] = [
    A("actionOpen", "&Open File…", "File", ("Ctrl+O",), "Open an image or a COCO .json file",
      toolbar="mainToolBar", icon="SP_DialogOpenButton"),
    A("actionOpenFolder", "Open &Folder…", "File", ("Ctrl+Shift+O",),
      "Open a folder of images, or of labelme, YOLO-seg or mask PNG annotations"),
    S("recent_menu", "Open &Recent", "File"),
    A("actionSave", "&Save", "File", ("Ctrl+S",), "Save the COCO file", separator=True,
      toolbar="mainToolBar", icon="SP_DialogSaveButton"),
    A("actionSaveAs", "Save &As…", "File", ("Ctrl+Shift+S",), "Save the COCO file elsewhere"),
    A("actionExport", "&Export…", "File", ("Ctrl+E",),
      "Write the dataset as it is now as COCO (RLE, polygons, polygons only), YOLO-seg, "
      "labelme or mask PNGs"),
    A("actionAutosave", "Autosave &interval…", "File", (),
      "How often unsaved work is copied to the .maskloop/ recovery file"),
    A("actionQuit", "&Quit", "File", ("Ctrl+Q",), separator=True),
    A("actionUndo", "&Undo", "Edit", ("Ctrl+Z",), "Undo the last step (shows its image first)",
      toolbar="mainToolBar", icon="SP_ArrowBack"),
    A("actionRedo", "&Redo", "Edit", ("Ctrl+Shift+Z", "Ctrl+Y"),
      "Redo the next step (shows its image first)", toolbar="mainToolBar", icon="SP_ArrowForward"),
    A("actionHistory", "&History", "Edit", ("Ctrl+H",), "Show the undo history", checkable=True),
    A("actionSelectTool", "&Select", "Tools", ("V",),
      "Click selects the top-most instance; Ctrl+click adds to the selection",
      checkable=True, toolbar="toolsToolBar"),
    A("actionBrush", "&Brush", "Tools", ("B",),
      "Paint into the selected instance (Shift: erase); nothing selected: a new instance",
      checkable=True, toolbar="toolsToolBar"),
    A("actionEraser", "&Eraser", "Tools", ("E",),
      "Erase from the selected instance, or from every instance when none is selected",
      checkable=True, toolbar="toolsToolBar"),
    A("actionPolygon", "&Polygon", "Tools", ("P",),
      "Click vertices; Enter or double click adds the area (Shift: subtracts); "
      "Backspace: undo vertex; Esc: cancel", checkable=True, toolbar="toolsToolBar"),
    A("actionBoxToMask", "Bo&x to mask", "Tools", ("X",),
      "Drag a box around an object: the model segments it (Alt+drag on the selected "
      "instance: a new mask from the new box)", checkable=True, toolbar="toolsToolBar"),
    A("actionClickToSegment", "Click to &instance", "Tools", ("I",),
      "Click an object: the model's best detection there is offered; click again or Enter "
      "accepts, Shift+click or Tab shows the next, Esc cancels", checkable=True,
      toolbar="toolsToolBar"),
    A("actionEditVertices", "Edit &vertices", "Tools", ("Shift+P",),
      "The selected instance's outline as polygon rings: drag a vertex, press an edge to add "
      "one, Alt+click or Del removes one, Enter commits, Esc drops", checkable=True,
      toolbar="toolsToolBar"),
    A("actionNewInstance", "&New instance", "Tools", ("N",),
      "The next stroke or polygon starts a new instance of the current class "
      "(Esc or V calls it off)", separator=True, toolbar="toolsToolBar"),
    A("actionDeleteInstance", "&Delete instance", "Tools", ("Del",), toolbar="toolsToolBar"),
    A("actionPickClass", "Choose &class…", "Tools", ("Ctrl+K",),
      "Type-ahead class picker: relabels the selection, or sets the class for new ones"),
    A("actionBrushSmaller", "Smaller brush", "Tools", ("[",)),
    A("actionBrushLarger", "Larger brush", "Tools", ("]",)),
    A("actionUnoccupied", "Paint only &unoccupied pixels", "Tools", ("O",),
      "Brush strokes never take pixels from other instances", checkable=True,
      toolbar="optionsToolBar", short="Unoccupied only"),
    A("actionFillHoles", "&Fill holes", "Tools", (), "Fill the holes of the selected instance",
      separator=True),
    A("actionRemoveIslands", "Remove small &islands…", "Tools", (),
      "Remove parts of the selected instance smaller than N pixels"),
    A("actionMerge", "&Merge selected", "Tools", ("Ctrl+M",),
      "Merge the instances Ctrl+clicked into the first one selected"),
    A("actionCategories", "C&ategories…", "Tools", (), "Add, rename, recolour and delete classes",
      separator=True),
    A("actionAccept", "&Accept instance", "Review", ("A",),
      "Accept the selection and go to the next unreviewed instance",
      toolbar="mainToolBar", icon="SP_DialogApplyButton"),
    A("actionReject", "&Reject instance", "Review", ("R",),
      "Reject the selection (kept in the file as rejected) and go to the next unreviewed one",
      toolbar="mainToolBar", icon="SP_DialogDiscardButton"),
    A("actionRejectAll", "Reject a&ll unreviewed on this image", "Review", ("Shift+R",),
      "Reject every prediction shown on this image that nobody reviewed yet, in one step "
      "(accept or correct the good ones first)"),
    A("actionToggleHidden", "&Hide / show instance", "Review", ("H",)),
    A("actionNextInstance", "Next instance", "Review", (".",),
      "Select the next instance (Tab too, on the canvas and in the instance list)"),
    A("actionPrevInstance", "Previous instance", "Review", (",",),
      "Select the previous instance (Shift+Tab too, on the canvas and in the instance list)"),
    A("actionMarkDone", "&Mark image done", "Review", ("M",),
      "Accept every prediction still shown, mark the image done (predictions hidden now stay "
      "hidden, whatever the threshold), go to the next unreviewed one",
      separator=True, toolbar="mainToolBar", icon="SP_DialogYesButton"),
    A("actionPrevImage", "&Previous image", "Review", ("Q", "PgUp"),
      toolbar="mainToolBar", icon="SP_MediaSeekBackward"),
    A("actionNextImage", "&Next image", "Review", ("D", "PgDown"),
      toolbar="mainToolBar", icon="SP_MediaSeekForward"),
    A("actionNextUnreviewed", "Next &unreviewed image", "Review", ("U",)),
    A("actionReviewHidden", "Review hi&dden predictions", "Review", ("Shift+H",),
      "Reopen this image marked done and offer the predictions it left unreviewed (hidden "
      "by the score threshold or H when it was marked); undo marks it done again"),
    A("actionPredict", "&Predict this image", "Model", ("Ctrl+P",),
      "Run the model on the current image (reviewed instances are kept)",
      toolbar="mainToolBar", icon="SP_MediaPlay"),
    A("actionPredictAll", "Predict &all unreviewed images", "Model", ("Ctrl+Shift+P",),
      "Run the model over every image not marked done", toolbar="mainToolBar",
      icon="SP_MediaSkipForward"),
    A("actionPredictAllImages", "Predict all images (including done)", "Model", (),
      "Run the model over every image; reviewed instances are never overwritten"),
    A("actionCancel", "&Cancel prediction", "Model", ("Shift+Esc",), toolbar="mainToolBar",
      icon="SP_MediaStop"),
    A("actionFineTune", "&Fine-tune on reviewed images…", "Model", ("Ctrl+T",),
      "Train the model on the reviewed images (runs in the background)", separator=True),
    A("actionCancelTraining", "Cancel fine-tuning", "Model", (),
      "Stop training after the current iteration; the checkpoint is kept"),
    A("actionLearn", "&Learn while I work", "Model", (),
      "Train in the background on each image you finish; when the model beats the one in "
      "use on held-out images, it replaces it and the images nobody has reviewed are "
      "predicted again", checkable=True),
    A("actionAutoPredict", "Predict &automatically", "Model", (),
      "Predict each new image when it is shown, and prefetch the next two",
      checkable=True, separator=True),
    A("actionOpenCheckpoint", "Open &checkpoint…", "Model", (),
      "Use a fine-tuned checkpoint (.pt) or a torchvision state_dict (.pth)"),
    S("versions_menu", "Model &versions", "Model"),
    A("actionRounds", "&Rounds: effort per model version", "Model", (),
      "Images, accepted, edited, rejected and drawn instances, and actions per instance, "
      "for each model version you reviewed", checkable=True),
    A("actionEvaluateDone", "&Evaluate on done images", "Model", (),
      "Measure the current model on the images marked done or fully decided: AP per class, "
      "PR curves and the confusion matrix in the Evaluation dock (runs in the background)",
      separator=True),
    A("actionLoadSuspects", "Load &suspects…", "Model", (),
      "Load the audit's SUSPECTS.json (main.py audit) and list the images with suspects, "
      "ranked: A keeps the annotation, R takes the model's version", separator=True),
    A("actionZoomIn", "Zoom &in", "View", ("+", "=", "Ctrl++", "Ctrl+="),
      "Zoom in about the centre of the view"),
    A("actionZoomOut", "Zoom &out", "View", ("-", "Ctrl+-"),
      "Zoom out about the centre of the view"),
    A("actionFit", "&Fit to window", "View", ("F",)),
    A("actionActualSize", "Actual size (1:1)", "View", ("0",)),
    A("actionToggleLabels", "Show &labels", "View", ("L",), checkable=True),
    A("actionColorByClass", "&Colour by class", "View", ("C",), checkable=True),
    A("actionImagesDock", "I&mages", "View", (), "Show the image list", checkable=True,
      separator=True),
    A("actionInstancesDock", "I&nstances", "View", (), "Show the current image's instances",
      checkable=True),
    A("actionDisplayDock", "&Display", "View", (),
      "Show the score threshold, opacity and brightness / contrast / gamma", checkable=True),
    A("actionTrainingDock", "&Training", "View", (),
      "Show the running or last fine-tune: progress, loss curves, val AP", checkable=True),
    A("actionEvaluationDock", "E&valuation", "View", (),
      "Show the last evaluation: AP per class, PR curves, confusion matrix", checkable=True),
    A("actionShortcuts", "&Keyboard shortcuts…", "Help", ("F1",),
      "Every key, and where to change them"),
    A("actionAbout", "&About MaskLoop", "Help", ()),
] + [A(f"actionClass{k}", f"Class {k}", "Tools", (str(k),),
       f"Relabel the selection as class {k}, or choose it for new instances", hidden=True)
     for k in range(1, 10)]

DEFS: dict[str, ActionDef] = {d.name: d for d in ACTIONS if isinstance(d, ActionDef)}

# keys that are not actions: shown in the help and the README, not changeable
FIXED_KEYS: list[tuple[str, str, str]] = [
    ("Review", "Next / previous instance, on the canvas and in the instance list",
     "Tab / Shift+Tab"),
    ("Tools", "Brush size", "Ctrl + wheel"),
    ("Polygon", "Close / subtract / undo vertex / cancel",
     "Enter or double click / Shift+Enter / Backspace / Esc"),
    ("Canvas", "Zoom about the cursor", "mouse wheel"),
    ("Canvas", "Pan", "middle drag, or Space + drag"),
    ("Canvas", "Select instance / add to selection", "click / Ctrl+click"),
]


def plain_text(d: ActionDef) -> str:
    return d.text.replace("&", "").rstrip("…")


def set_keys(action: QAction, keys: list[QKeySequence]) -> None:
    """Give an action its keys and say them in its tooltip and status tip."""
    action.setShortcuts(keys)
    d = DEFS.get(action.objectName())
    tip = (d.tip or plain_text(d)) if d is not None else action.text().replace("&", "")
    if keys:
        tip += f" ({', '.join(k.toString(QKeySequence.NativeText) for k in keys)})"
    action.setToolTip(tip)
    action.setStatusTip(tip)


def build_actions(owner: QWidget) -> dict[str, QAction]:
    """Create the actions as children of owner (so their shortcuts work window-wide)."""
    out = {}
    style = owner.style()
    for d in ACTIONS:
        if not isinstance(d, ActionDef):
            continue
        a = QAction(d.text, owner)
        a.setObjectName(d.name)
        set_keys(a, [QKeySequence(k) for k in d.keys])
        a.setCheckable(d.checkable)
        if d.short:
            a.setIconText(d.short)
        if d.icon:
            a.setIcon(style.standardIcon(getattr(QStyle, d.icon)))
        owner.addAction(a)
        out[d.name] = a
    return out


def build_menus(bar: QMenuBar, actions: dict[str, QAction]) -> tuple[dict[str, QMenu],
                                                                      dict[str, QMenu]]:
    """The menus in table order; returns (menus by title, submenus by name)."""
    menus = {name: bar.addMenu(f"&{name}") for name in MENUS}
    subs: dict[str, QMenu] = {}
    for d in ACTIONS:
        if getattr(d, "hidden", False):
            continue
        menu = menus[d.menu]
        if d.separator:
            menu.addSeparator()
        if isinstance(d, SubmenuDef):
            subs[d.name] = menu.addMenu(d.text)
        else:
            menu.addAction(actions[d.name])
    return menus, subs


def build_toolbars(actions: dict[str, QAction]) -> dict[str, QToolBar]:
    """The toolbars in table order (a separator where the menu has one)."""
    bars: dict[str, QToolBar] = {}
    for d in ACTIONS:
        if not isinstance(d, ActionDef) or not d.toolbar:
            continue
        tb = bars.get(d.toolbar)
        if tb is None:
            tb = bars[d.toolbar] = QToolBar(TOOLBAR_TITLES[d.toolbar])
            tb.setObjectName(d.toolbar)
        elif d.separator:
            tb.addSeparator()
        tb.addAction(actions[d.name])
    return bars


def shortcut_rows(actions: dict[str, QAction] | None = None) -> list[tuple[str, str, str]]:
    """(menu, action, keys) of the menu actions, for the help and the README: the
    table's defaults, or the keys `actions` have now."""
    rows = []
    for d in DEFS.values():
        if d.hidden:
            continue
        if actions is None:
            keys = ", ".join(d.keys)
        else:
            keys = ", ".join(k.toString(QKeySequence.NativeText)
                             for k in actions[d.name].shortcuts())
        if keys:
            rows.append((d.menu, plain_text(d), keys))
    return rows


def shortcuts_html(actions: dict[str, QAction] | None = None) -> str:
    rows = "".join(f"<tr><td>{m}</td><td>{t}</td><td><b>{k}</b></td></tr>"
                   for m, t, k in shortcut_rows(actions))
    extra = "".join(f"<tr><td>{m}</td><td>{t}</td><td><b>{k}</b></td></tr>"
                    for m, t, k in [("Tools", "Class 1-9 (relabel the selection, or the "
                                     "next new instance)", "1 ... 9")] + FIXED_KEYS)
    return ("<table cellspacing=6><tr><th align=left>Menu</th><th align=left>Action</th>"
            f"<th align=left>Keys</th></tr>{rows}{extra}</table>")
