"""`main.py report COCO [--json]`: effort per model round, from the `.maskloop/` state the
app saved beside COCO (the same table as the app's Rounds view)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.effort.rounds import format_table, rounds, total
from model.data.state_folder import state_folder
from model.effort.store import effort_file, read
from model.training.versions import VersionRegistry


def version_order(state_dir: Path) -> tuple[list[str], str | None]:
    """The dataset's model versions, oldest first (models.json is data: names only), and
    a warning naming models.json when it cannot be used (the rounds then keep the order
    of the record)."""
    versions, warning = VersionRegistry(state_dir).read()
    return [v["name"] for v in versions], warning


def cmd_report(args: argparse.Namespace) -> int:
    coco = Path(args.coco)
    if not coco.is_file():
        raise FileNotFoundError(f"{coco}: no such COCO file" if not coco.exists()
                                else f"{coco} is not a file")
    path = effort_file(coco)
    entries, warning = read(path)
    order, order_warning = version_order(path.parent)
    for w in (state_folder(coco.parent)[1], warning, order_warning):
        if w:
            print(f"warning: {w}", file=sys.stderr)
    rows = rounds(entries, order)
    if args.json:
        print(json.dumps({"coco": str(coco), "effort_file": str(path),
                          "rounds": [r.to_json() for r in rows], "total": total(rows)}))
        return 0
    if not rows:
        print(f"No effort could be read from {path} (see the warning)." if warning else
              f"No effort recorded for {coco.name} yet: the app records it in {path} "
              "when the dataset is saved.")
        return 0
    print(format_table(rows))
    t = total(rows)
    api = "-" if t["actions_per_instance"] is None else f"{t['actions_per_instance']:.2f}"
    print(f"\n{t['images']} image(s), {t['instances']} instance(s), {t['actions']} action(s), "
          f"{api} per instance (accept, reject, relabel, click, stroke, vertex 1; box 2)")
    return 0


def add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="effort per model round, as the app recorded it",
                       description="Print the effort recorded while reviewing COCO in the app, "
                                   "per model version: images reviewed, instances accepted, "
                                   "edited (mean IoU from the model's mask), rejected, drawn "
                                   "by hand, and actions per instance.")
    p.add_argument("coco", help="the COCO JSON the app saved (its .maskloop/ folder holds the "
                                "record)")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.set_defaults(func=cmd_report)
