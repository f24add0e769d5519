"""MaskLoop entry point: `python main.py [gui|predict|train|evaluate|export|simulate|report|audit] ...`
(default: gui).

Exit codes, the same for every subcommand: 0 done, 1 a runtime failure (a write that
failed, no image could be processed, training that diverged), 2 a usage error or bad
input (arguments, a file that is not what it should be). Ctrl+C gives 130."""
from __future__ import annotations

import argparse
import sys


def _gui_command(sub: argparse._SubParsersAction) -> None:
    from app.gui import add_gui_command  # Qt is imported only here

    add_gui_command(sub)


def build_parser() -> argparse.ArgumentParser:
    from model.cli.entry import build_parser as model_parser

    return model_parser([_gui_command])


def main(argv: list[str] | None = None) -> int:
    from model.cli.entry import main as run

    argv = sys.argv[1:] if argv is None else argv
    return run(argv, [_gui_command], default=["gui"])  # no arguments: the app on the demo


if __name__ == "__main__":
    sys.exit(main())
