"""MaskLoop entry point: `python main.py [gui|predict|train|evaluate|export] ...` (default: gui).

Exit codes, the same for every subcommand: 0 done, 1 a runtime failure (a write that
failed, no image could be processed, training that diverged), 2 a usage error or bad
input (arguments, a file that is not what it should be). Ctrl+C gives 130."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from model.about import program_name, version
    from model.cli.commands import add_commands

    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="MaskLoop: model-assisted instance segmentation "
                    "(predict, review, correct, fine-tune).")
    parser.add_argument("--version", action="version", version=f"maskloop {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_commands(sub)
    from model.cli.train import add_train_command

    add_train_command(sub)
    from app.gui import add_gui_command

    add_gui_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv or ["gui"])  # no arguments: the app on the demo images
    from PIL import Image

    from model.cli.commands import run
    from model.data.images import DEFAULT_MAX_PIXELS

    # Pillow's decompression-bomb guard, on at MaskLoop's own pixel limit (Pillow's default
    # would warn on a 90 MP image the rest of MaskLoop opens): the entry point decides this
    # once; the library only ever reads a header before it lets Pillow decode.
    Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
