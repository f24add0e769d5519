"""MaskLoop entry point: `python main.py [gui|predict|evaluate|export] ...` (default: gui)."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from model.cli import add_commands

    parser = argparse.ArgumentParser(
        prog="main.py",
        description="MaskLoop: model-assisted instance segmentation "
                    "(predict, review, correct, fine-tune).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_commands(sub)
    from model.train_cli import add_train_command

    add_train_command(sub)
    from app.gui import add_gui_command

    add_gui_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv or ["gui"])  # no arguments: the app on the demo images
    from model.cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
