"""MaskLoop entry point: `python main.py [gui|predict|train|evaluate|export] ...` (default: gui).

Exit codes, the same for every subcommand: 0 done, 1 a runtime failure (a write that
failed, no image could be processed, training that diverged), 2 a usage error or bad
input (arguments, a file that is not what it should be). Ctrl+C gives 130."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from model.about import program_name, version
    from model.cli import add_commands

    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="MaskLoop: model-assisted instance segmentation "
                    "(predict, review, correct, fine-tune).")
    parser.add_argument("--version", action="version", version=f"maskloop {version()}")
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
