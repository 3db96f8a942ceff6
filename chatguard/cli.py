"""The ``chatguard`` command: one entry point, subcommands registered by each package.

Each package owns its own commands (``add_commands(subparsers)``) and imports its heavy
dependencies (Faust, scikit-learn) only inside the handlers, so ``chatguard --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# modules that define ``add_commands(subparsers)``; a missing one is skipped so the CLI still works
COMMAND_MODULES = (
    "devtools.broker",
    "chatguard.keys",
    "training.cli",
    "chatguard.classify",
    "streams.cli",
    "devtools.cli",
    "streams.rules_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatguard", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "passthrough", None) is None:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.passthrough = [*extra, *args.passthrough]  # e.g. `chatguard worker -l info` → Faust
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
