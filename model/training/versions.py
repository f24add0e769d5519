"""Model versions of one dataset: the checkpoints its fine-tunes produced, kept in
`.maskloop/models.json` beside the COCO file (date, data size, val AP)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from model.data.atomic import atomic_write_json

FILE = "models.json"


class VersionRegistry:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / FILE

    def load(self) -> list[dict]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return data.get("versions", []) if isinstance(data, dict) else []

    def next_name(self) -> str:
        return f"v{len(self.load()) + 1}-{dt.datetime.now():%Y%m%d-%H%M}"

    def add(self, name: str, checkpoint: Path, summary: dict, start: dict, history: list) -> dict:
        """Record a finished (or cancelled) run; the newest version comes last."""
        last_val = next((h["val"] for h in reversed(history) if "val" in h), None)
        version = {
            "name": name,
            "checkpoint": str(checkpoint),
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "status": summary.get("status"),
            "iterations": summary.get("iterations"),
            "train_images": start.get("train_images"),
            "val_images": start.get("val_images"),
            "instances": start.get("instances"),
            "started_from": start.get("weights"),
            "val_bbox_ap": (last_val or {}).get("bbox", {}).get("AP"),
            "val_segm_ap": summary.get("best_segm_ap") if summary.get("best_segm_ap") is not None
            else (last_val or {}).get("segm", {}).get("AP"),
        }
        versions = [v for v in self.load() if v.get("name") != name] + [version]
        atomic_write_json(self.path, {"versions": versions}, indent=1)
        return version
