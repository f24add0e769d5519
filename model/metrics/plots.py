"""PNG plots of an evaluation report, drawn with OpenCV and numpy: model/ cannot use Qt
and matplotlib is not a dependency. The PR curves per IoU type (one line per class,
axes, ticks, labels, a legend with each class's AP50) and the confusion matrix
(counts in the cells, coloured by the share of the ground-truth row, a colour scale).

File names are fixed (pr_bbox.png, pr_segm.png, confusion.png): nothing read from a file
(a class name) ever becomes a path, and every file is written atomically inside DIR.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from model.data.atomic import atomic_write_bytes
from model.data.images import outside
from model.errors import UsageError

FONT = cv2.FONT_HERSHEY_SIMPLEX
INK, GRID, WHITE = (30, 30, 30), (225, 225, 225), (255, 255, 255)
LEGEND_MAX = 20  # classes named in a PR legend; the rest are summed up in one line
# a qualitative palette (BGR), the ten of Tableau's
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
           (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]


def _text(img, s: str, org: tuple[int, int], scale: float = 0.45, color=INK,
          thick: int = 1, anchor: str = "left") -> None:
    (w, h), _ = cv2.getTextSize(s, FONT, scale, thick)
    x, y = org
    if anchor == "center":
        x -= w // 2
    elif anchor == "right":
        x -= w
    cv2.putText(img, s, (int(x), int(y + h // 2)), FONT, scale, color, thick, cv2.LINE_AA)


def _vertical_text(img, s: str, center: tuple[int, int], scale: float = 0.45,
                   anchor: str = "center") -> None:
    """Text turned 90 degrees (read bottom to top), centred on or ending at `center`."""
    (w, h), base = cv2.getTextSize(s, FONT, scale, 1)
    tile = np.full((h + base + 4, w + 4, 3), 255, np.uint8)
    cv2.putText(tile, s, (2, h + 2), FONT, scale, INK, 1, cv2.LINE_AA)
    tile = cv2.rotate(tile, cv2.ROTATE_90_COUNTERCLOCKWISE)
    th, tw = tile.shape[:2]
    cx, cy = center
    y0 = cy - th // 2 if anchor == "center" else cy - th
    x0 = cx - tw // 2
    y0, x0 = max(0, y0), max(0, x0)
    region = img[y0:y0 + th, x0:x0 + tw]
    np.minimum(region, tile[:region.shape[0], :region.shape[1]], out=region)


def _short(name: str, n: int = 18) -> str:
    return name if len(name) <= n else name[:n - 1] + "~"


def pr_image(curves: dict[str, list[float] | None], recall: list[float], title: str,
             ap50: dict[str, float | None] | None = None) -> np.ndarray:
    """A BGR image of precision against recall, one line per class that has truth."""
    W, H, left, top, pw, ph = 900, 620, 70, 50, 520, 500
    img = np.full((H, W, 3), 255, np.uint8)
    _text(img, title, (left + pw // 2, 22), 0.6, anchor="center", thick=1)
    x = lambda r: int(round(left + r * pw))  # noqa: E731
    y = lambda p: int(round(top + (1 - p) * ph))  # noqa: E731
    for v in np.linspace(0, 1, 11):
        cv2.line(img, (x(v), top), (x(v), top + ph), GRID, 1)
        cv2.line(img, (left, y(v)), (left + pw, y(v)), GRID, 1)
        cv2.line(img, (x(v), top + ph), (x(v), top + ph + 5), INK, 1)
        cv2.line(img, (left - 5, y(v)), (left, y(v)), INK, 1)
        _text(img, f"{v:.1f}", (x(v), top + ph + 16), 0.4, anchor="center")
        _text(img, f"{v:.1f}", (left - 8, y(v)), 0.4, anchor="right")
    cv2.rectangle(img, (left, top), (left + pw, top + ph), INK, 1)
    _text(img, "recall", (left + pw // 2, top + ph + 38), 0.5, anchor="center")
    _vertical_text(img, "precision", (18, top + ph // 2), 0.5)
    shown = [(n, c) for n, c in curves.items() if c is not None]
    rec = np.asarray(recall, float)
    for k, (name, prec) in enumerate(shown):
        p = np.asarray(prec, float)
        pts = np.stack([left + rec * pw, top + (1 - p) * ph], 1).round().astype(np.int32)
        cv2.polylines(img, [pts], False, PALETTE[k % len(PALETTE)], 2, cv2.LINE_AA)
    lx, ly = left + pw + 20, top + 8
    _text(img, "class (AP50)", (lx, ly), 0.45)
    for k, (name, _prec) in enumerate(shown[:LEGEND_MAX]):
        yy = ly + 22 * (k + 1)
        cv2.line(img, (lx, yy), (lx + 24, yy), PALETTE[k % len(PALETTE)], 3, cv2.LINE_AA)
        ap = (ap50 or {}).get(name)
        _text(img, f"{_short(name)} ({'-' if ap is None else format(ap, '.3f')})",
              (lx + 32, yy), 0.42)
    if len(shown) > LEGEND_MAX:
        _text(img, f"+{len(shown) - LEGEND_MAX} more", (lx, ly + 22 * (LEGEND_MAX + 1)), 0.42)
    if not shown:
        _text(img, "no class has ground truth", (left + pw // 2, top + ph // 2), 0.5,
              anchor="center")
    return img


def confusion_image(labels: list[str], matrix: list[list[int]], title: str) -> np.ndarray:
    """A BGR heat map: rows truth, columns predicted, each cell's count written in it and
    its colour the share of its row (how a true class's instances were predicted)."""
    m = np.asarray(matrix, np.int64).reshape(len(labels), len(labels))
    n = len(labels)
    # past 100 classes the cells shrink and go unnamed: 1000 classes at 14 px were 600 MB
    cell = int(np.clip(560 // max(n, 1), 14, 60)) if n <= 100 else max(1, 1400 // n)
    names = [_short(s) for s in labels] if cell >= 14 else []
    pad = max([cv2.getTextSize(s, FONT, 0.42, 1)[0][0] for s in names] + [0]) + 16
    left, top = pad + 40, 50
    W, H = left + n * cell + 110, top + n * cell + pad + 50
    img = np.full((H, max(W, 360), 3), 255, np.uint8)
    _text(img, title, (img.shape[1] // 2, 22), 0.55, anchor="center")
    rows = m.sum(1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape, float), where=rows > 0)
    colors = cv2.applyColorMap((share * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    if not names:  # small unnamed cells: painted at once, not drawn one by one
        img[top:top + n * cell, left:left + n * cell] = np.repeat(np.repeat(colors, cell, 0),
                                                                  cell, 1)
    for r in range(n if names else 0):
        for c in range(n):
            x0, y0 = left + c * cell, top + r * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell),
                          tuple(int(v) for v in colors[r, c]), -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), WHITE, 1)
            if cell >= 22:
                ink = INK if share[r, c] > 0.6 else WHITE
                _text(img, str(int(m[r, c])), (x0 + cell // 2, y0 + cell // 2),
                      0.38 if cell < 40 else 0.45, ink, anchor="center")
    for k, name in enumerate(names):
        _text(img, name, (left - 6, top + k * cell + cell // 2), 0.42, anchor="right")
        _vertical_text(img, name, (left + k * cell + cell // 2, top + n * cell + 6 + pad),
                       0.42, anchor="end")
    _text(img, "predicted", (left + n * cell // 2, H - 14), 0.5, anchor="center")
    _vertical_text(img, "ground truth", (14, top + n * cell // 2), 0.5)
    # the colour scale: share of the row, 0 at the bottom
    sx, sh = left + n * cell + 24, max(n * cell, 100)
    ramp = cv2.applyColorMap(np.linspace(255, 0, sh).astype(np.uint8)[:, None], cv2.COLORMAP_VIRIDIS)
    img[top:top + sh, sx:sx + 16] = np.repeat(ramp, 16, axis=1)[:img.shape[0] - top]
    cv2.rectangle(img, (sx, top), (sx + 16, top + sh), INK, 1)
    for v in (0.0, 0.5, 1.0):
        yy = top + int(round((1 - v) * sh))
        cv2.line(img, (sx + 16, yy), (sx + 20, yy), INK, 1)
        _text(img, f"{v:.1f}", (sx + 23, yy), 0.38)
    _vertical_text(img, "share of row", (sx + 70, top + sh // 2), 0.4)
    return img


def png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return buf.tobytes()


def report_images(report: dict) -> dict[str, np.ndarray]:
    """File name -> image, for every plot an evaluation report allows."""
    out = {}
    pr = report["pr_curves"]
    for t in ("bbox", "segm"):
        if any(c is not None for c in pr[t].values()) or report[t]["AP"] is not None:
            ap50 = {n: f[t]["AP50"] for n, f in report["per_class"].items()}
            out[f"pr_{t}.png"] = pr_image(pr[t], pr["recall"],
                                          f"{t} precision-recall per class, IoU "
                                          f"{pr['iou_threshold']:.2f}", ap50)
    cm = report["confusion"]
    out["confusion.png"] = confusion_image(
        cm["labels"], cm["matrix"], f"confusion ({cm['iou_type']} IoU >= "
        f"{cm['iou_threshold']}, score >= {cm['score_threshold']})")
    return out


def write_plots(report: dict, folder: Path) -> list[Path]:
    """Write the report's plots into `folder` (made if missing), atomically; their paths."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: --plots needs a folder, and this is a file")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, img in report_images(report).items():
        path = folder / name
        if outside(path, folder):  # a link planted under a fixed name
            raise UsageError(f"{path}: leads outside {folder}; not written")
        atomic_write_bytes(path, png_bytes(img))
        written.append(path)
    return written
