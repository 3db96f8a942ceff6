"""``chatguard rules publish | rollback | show | test``: the lifecycle of a rules file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatguard.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    rules = subparsers.add_parser("rules", help="publish, roll back, show or dry-run rules files")
    commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    publish = commands.add_parser("publish", help="validate FILE and serve it on every worker")
    publish.add_argument("file", type=Path)
    publish.set_defaults(handler=_publish)

    rollback = commands.add_parser("rollback", help="republish the version served before")
    rollback.set_defaults(handler=_rollback)

    for name, help_text in (
        ("pin", "block TOKEN (domain, phone, WeChat or QQ ID) fleet-wide until unpinned"),
        ("unpin", "stop TOKEN from blocking, whether pinned or learned from enforcement"),
    ):
        edit = commands.add_parser(name, help=help_text)
        edit.add_argument("token")
        edit.set_defaults(handler=_edit_learned, pin=name == "pin")

    show = commands.add_parser("show", help="the version workers serve, its rules, the history")
    show.add_argument("--file", type=Path, default=None, help="show FILE instead (validates it)")
    show.set_defaults(handler=_show)

    test = commands.add_parser(
        "test", help="dry run: per-rule hits, precision, recall and changed decisions"
    )
    test.add_argument("file", type=Path)
    test.add_argument("--data", type=Path, required=True, help="labelled JSONL (text, categories)")
    test.set_defaults(handler=_test)


def _load(path: Path) -> Any:
    from models.rules import load_rules

    return load_rules(path.read_text(encoding="utf-8"), name=str(path))


def _signing_key(settings: Settings) -> Any:
    """The private key rules are signed with (the model signing key); None only when unsigned
    rules are allowed and there is no key. Raises ``ModelError`` naming the missing file."""
    from models.signing import load_private_key

    if settings.allow_unsigned_rules and not settings.model_signing_key.exists():
        return None
    return load_private_key(settings.model_signing_key)


def _verifier(settings: Settings) -> Any:
    """A holder that checks signatures as the workers do, or None if no public key is here."""
    from models.errors import ModelError
    from streams.rules_holder import RulesHolder

    holder = RulesHolder()
    try:
        holder.trust(settings)
    except ModelError:
        return None
    return holder


def _publish(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from models.rules import RulesError
    from streams.rules_holder import newest_valid, publish, read_history

    settings = Settings.from_env()
    try:
        ruleset = _load(args.file)
        key = _signing_key(settings)
    except (RulesError, OSError, ModelError) as exc:
        print(f"chatguard rules publish: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        history, _ = await read_history(settings)
        clash = [r for r in history if r.version == ruleset.version and r.sha256 != ruleset.sha256]
        if clash:
            print(
                f"chatguard rules publish: version {ruleset.version!r} was published with other "
                "content; give the file a new version",
                file=sys.stderr,
            )
            return 1
        current, _ = newest_valid(history, _verifier(settings))
        await publish(settings, ruleset.source_text, key, history)
        before = current.version if current else "none"
        print(f"published rules {ruleset.version} ({len(ruleset)} rules), replacing {before}")
        return 0

    return asyncio.run(run())


def _rollback(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from streams.rules_holder import newest_valid, publish, read_history

    settings = Settings.from_env()
    try:
        key = _signing_key(settings)
    except ModelError as exc:
        print(f"chatguard rules rollback: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        history, _ = await read_history(settings)
        current, before = newest_valid(history, _verifier(settings))
        if current is None or not before:
            print("chatguard rules rollback: no earlier version to return to", file=sys.stderr)
            return 1
        previous = next(r for r in reversed(history) if r.version == before[0])
        await publish(settings, previous.text, key, history)
        print(f"rolled back rules from {current.version} to {previous.version}")
        return 0

    return asyncio.run(run())


def _edit_learned(args: argparse.Namespace) -> int:
    """Republish the served rules file with TOKEN pinned (or removed) in its ``learned``
    section: a new, signed version like any other, so it reaches every worker the same way."""
    from models.errors import ModelError
    from models.learned import valid_token
    from models.rules import RulesError, canonical_token
    from streams.rules_holder import newest_valid, publish, read_history

    command = "pin" if args.pin else "unpin"
    token = canonical_token(args.token)
    if not valid_token(token):
        print(f"chatguard rules {command}: {args.token!r} is not a contact token", file=sys.stderr)
        return 1
    settings = Settings.from_env()
    try:
        key = _signing_key(settings)
    except ModelError as exc:
        print(f"chatguard rules {command}: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        history, _ = await read_history(settings)
        current, _ = newest_valid(history, _verifier(settings))
        text = edit_learned(current.text if current else None, token, pin=args.pin)
        try:
            ruleset = await publish(settings, text, key)
        except RulesError as exc:
            print(f"chatguard rules {command}: {exc}", file=sys.stderr)
            return 1
        print(f"{command}ned {token}: published rules {ruleset.version}")
        return 0

    return asyncio.run(run())


def edit_learned(text: str | None, token: str, *, pin: bool) -> str:
    """A rules file's text with ``token`` pinned (and no longer removed), or removed (and no
    longer pinned), under a new version. Comments of the original are not kept."""
    import time

    import yaml

    data: dict[str, Any] = yaml.safe_load(text) if text else {"version": "learned", "rules": []}
    learned: dict[str, list[str]] = data.get("learned") or {}
    data["learned"] = learned
    add, drop = ("pin", "remove") if pin else ("remove", "pin")
    learned[drop] = [t for t in learned.get(drop) or [] if str(t) != token]
    learned[add] = [*[t for t in learned.get(add) or [] if str(t) != token], token]
    base = str(data.get("version", "learned")).split("+", 1)[0]
    data["version"] = f"{base}+{add}.{token}.{time.strftime('%Y%m%dT%H%M%S')}"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _show(args: argparse.Namespace) -> int:
    from models.rules import EMPTY, RulesError
    from streams.learned_list import read_learned
    from streams.rules_holder import newest_valid, read_history

    if args.file is not None:
        try:
            ruleset = _load(args.file)
        except (RulesError, OSError) as exc:
            print(f"chatguard rules show: {exc}", file=sys.stderr)
            return 1
        _print_rules(ruleset)
        return 0
    settings = Settings.from_env()
    history, _ = asyncio.run(read_history(settings))
    current, before = newest_valid(history, _verifier(settings))
    if current is None:
        print("no rules published: workers serve rules version none")
        _print_learned(EMPTY, asyncio.run(read_learned(settings)))
        return 0
    when = datetime.fromtimestamp(current.published_at, UTC).isoformat(timespec="seconds")
    print(f"serving rules {current.version}, published {when} by {current.published_by}")
    from models.rules import load_rules

    served = load_rules(current.text)
    _print_rules(served)
    if before:
        print(f"earlier versions (newest first): {', '.join(before)}")
    _print_learned(served, asyncio.run(read_learned(settings)))
    return 0


def _print_learned(ruleset: Any, entries: list[Any]) -> None:
    """The learned list as workers serve it: entries, pins and removals."""
    import time

    now = time.time()
    print(
        f"learned list: {len(entries)} learned, pinned {list(ruleset.pinned) or '-'}, "
        f"removed {list(ruleset.removed) or '-'}"
    )
    for entry in entries:
        expires = datetime.fromtimestamp(entry.expires_at or 0, UTC).isoformat(timespec="seconds")
        state = (
            "removed"
            if entry.token in ruleset.removed
            else ("expired" if (entry.expires_at or 0) <= now else "active")
        )
        print(
            f"  {entry.token:40} {entry.kind:8} {state:8} events={entry.events} "
            f"accounts={entry.accounts} expires={expires}"
        )


def _print_rules(ruleset: Any) -> None:
    sizes = ruleset.list_sizes()
    print(f"version {ruleset.version}: {len(ruleset)} rules, sha256 {ruleset.sha256[:12]}")
    for rule in ruleset.rules:
        effect = rule.action if rule.action != "score" else f"score {dict(rule.score_delta)}"
        expires = (
            datetime.fromtimestamp(rule.expires, UTC).isoformat(timespec="seconds")
            if rule.expires is not None
            else "never"
        )
        print(
            f"  {rule.id:32} {effect:10} {rule.category:10} entries={sizes[rule.id]:<7} "
            f"expires={expires}  {rule.description}"
        )


def _test(args: argparse.Namespace) -> int:
    from models.rules import RulesError
    from streams.rules_dry_run import dry_run, format_report, read_rows

    try:
        ruleset = _load(args.file)
        rows = read_rows(args.data)
    except (RulesError, OSError, ValueError) as exc:
        print(f"chatguard rules test: {exc}", file=sys.stderr)
        return 1
    from streams.model_holder import ModelHolder

    serving = ModelHolder(Settings.from_env()).load_current()
    report = dry_run(ruleset, serving, rows)
    print(format_report(report))
    return 0
