"""The Evaluation dock's controller: after a fine-tune it shows the run's val report
(OUT.eval.json, written by training from the same evaluation as its val AP), and when a
dataset opens, its last run's; a class or confusion cell clicked filters the image list."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject

from model.training.checkpoints import eval_path

from ..panels.evaluation import EvaluationPanel
from ..panels.image_list import ImageListPanel

MAX_REPORT_BYTES = 64 << 20  # a larger report file is not read


def read_report(path: Path) -> dict | None:
    """A report file, or None when missing, too large or not a JSON object."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


class EvaluationController(QObject):
    def __init__(self, panel: EvaluationPanel, images: ImageListPanel, finetune):
        super().__init__()
        self.panel, self.images, self.finetune = panel, images, finetune
        panel.imagesChosen.connect(images.set_image_filter)
        finetune.process.finished.connect(lambda _s: self.show_last_run())
        finetune.session.opened.connect(lambda _n: self.show_last_run())

    def show_checkpoint(self, checkpoint: Path, title: str) -> bool:
        report = read_report(eval_path(Path(checkpoint)))
        if report is None:
            self.panel.clear(f"{title}: no evaluation was written (no image was held out)")
            return False
        return self.panel.show_report(report, title)

    def show_last_run(self) -> None:
        """The open dataset's last model version, evaluated on its val split."""
        versions = self.finetune.versions()
        if not versions:
            self.panel.clear("No evaluation yet: fine-tune (Model → Fine-tune…) first.")
            return
        v = versions[-1]
        self.show_checkpoint(Path(v["checkpoint"]), f"{v['name']} on its val split")
