"""Model versions of one dataset: the checkpoints its fine-tunes produced and those that
learning while a person works swapped in, kept in `.maskloop/models.json` beside the COCO
file (date, data size, val AP; a swap's held-out AP and the run it came from)."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from model.data.atomic import atomic_write_json

FILE = "models.json"


class VersionRegistry:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / FILE

    def load(self) -> list[dict]:
        return self.read()[0]

    def read(self) -> tuple[list[dict], str | None]:
        """The versions, and one warning naming the file when it cannot be used (None:
        all well, or no file yet). Never raises on its content: models.json is data
        beside the dataset, and a bad one must not stop a report or the app."""
        try:
            text = self.path.read_bytes().decode("utf-8")
            data = json.loads(text)
        except FileNotFoundError:
            return [], None
        except UnicodeDecodeError:
            return [], f"{self.path}: the model versions are not UTF-8 text; they are ignored"
        except OSError as e:
            return [], (f"{self.path}: the model versions cannot be read "
                        f"({e.strerror or e}); they are ignored")
        except RecursionError:
            return [], f"{self.path}: the model versions are nested too deeply; they are ignored"
        except ValueError as e:
            return [], f"{self.path}: the model versions are not valid JSON ({e}); they are ignored"
        if not isinstance(data, dict) or not isinstance(data.get("versions", []), list):
            return [], (f"{self.path}: not a list of model versions "
                        '({"versions": [...]}); it is ignored')
        versions = data.get("versions", [])
        good = [v for v in versions if isinstance(v, dict) and isinstance(v.get("name"), str)]
        if len(good) < len(versions):
            return good, (f"{self.path}: {len(versions) - len(good)} of its "
                          f"{len(versions)} model versions have no name; they are skipped")
        return good, None

    def next_name(self) -> str:
        return f"v{len(self.load()) + 1}-{dt.datetime.now():%Y%m%d-%H%M}"

    def _keep_aside(self) -> Path:
        """Move an unusable models.json to a free name beside it, so a new version's write
        never destroys what a person might still repair by hand."""
        for k in range(1, 1000):
            aside = self.path.with_name(f"{self.path.name}.unreadable-{k}")
            if not aside.exists():
                os.replace(self.path, aside)
                return aside
        raise OSError(f"{self.path}: no free name to keep the unreadable file aside")

    def add(self, name: str, checkpoint: Path, summary: dict, start: dict, history: list,
            extra: dict | None = None) -> dict:
        """Record a finished (or cancelled) run, or a model that learning while a person
        works swapped in (`extra`: its held-out figures); the newest version comes last."""
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
        version.update(extra or {})
        known, problem = self.read()
        if problem is not None and self.path.is_file():
            self._keep_aside()  # unreadable to us, maybe not to its owner: never overwritten
        versions = [v for v in known if v.get("name") != name] + [version]
        atomic_write_json(self.path, {"versions": versions}, indent=1)
        return version
