"""The ``chatguard`` command: one entry point, subcommands registered by each package.

Each package owns its own commands (``add_commands(subparsers)``) and imports its heavy
dependencies (Faust, scikit-learn) only inside the handlers, so ``chatguard --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from chatguard.settings import SettingsError

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
    try:
        result = args.handler(args)
    except SettingsError as exc:  # a CHATGUARD_* variable: one line saying which, not a traceback
        print(f"chatguard {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _unusable_key(exc):  # a moderator or fleet key file that is missing, empty, not a file
            print(f"chatguard {args.command}: {exc}", file=sys.stderr)
            return 2
        if not _broker_unreachable(exc):
            raise
        print(f"chatguard {args.command}: cannot reach the Kafka broker: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


def _unusable_key(exc: BaseException) -> bool:
    keys = sys.modules.get("streams.shared_keys")
    return keys is not None and isinstance(exc, keys.SharedKeyError)


def _broker_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is aiokafka's "no broker answered" (looked up only if aiokafka is loaded,
    so ``chatguard --help`` stays fast)."""
    errors = sys.modules.get("aiokafka.errors")
    return errors is not None and isinstance(exc, errors.KafkaConnectionError)


if __name__ == "__main__":
    sys.exit(main())
