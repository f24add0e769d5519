"""The command line as a library call: the parser of every model command, and `main`.

main.py adds the `gui` command (which needs Qt) and calls this; benchmarks call `main`
directly to run a command in-process, exactly as a user would, without importing main.py.
"""
from __future__ import annotations

import argparse
from typing import Callable, Sequence

from model.about import program_name, version
from model.cli.commands import add_commands, run
from model.cli.train_command import add_train_command
from model.cli.simulate_command import add_simulate_command
from model.process_settings import configure_libraries

AddCommand = Callable[[argparse._SubParsersAction], None]


def build_parser(extra: Sequence[AddCommand] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="MaskLoop: model-assisted instance segmentation "
                    "(predict, review, correct, fine-tune).")
    parser.add_argument("--version", action="version", version=f"maskloop {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_commands(sub)
    add_train_command(sub)
    add_simulate_command(sub)
    for add in extra:
        add(sub)
    return parser


def main(argv: Sequence[str], extra: Sequence[AddCommand] = (),
         default: Sequence[str] = ()) -> int:
    """Parse argv (or `default` when it is empty) and run the command: its exit code."""
    parser = build_parser(extra)
    args = parser.parse_args(list(argv) or list(default))
    configure_libraries()
    if getattr(args, "func", None) is None:  # no command, and no default given
        parser.print_usage()
        return 2
    return run(args)

