"""``chatguard rules publish | rollback | show | test``: the lifecycle of a rules file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatguard.settings import Settings
from chatguard.terminal import printable

if TYPE_CHECKING:
    from streams.rules_holder import PublishedRules, RulesHolder


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
    """The validated rules file at ``path``; ``RulesError`` naming the file if it is not UTF-8
    (a decoding error was a traceback)."""
    from models.rules import RulesError, load_rules

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        raise RulesError(msg) from exc
    return load_rules(text, name=str(path))


def _signing_key(settings: Settings) -> Any:
    """The private key rules are signed with (the model signing key); None only when unsigned
    rules are allowed and there is no key. Raises ``ModelError`` naming the missing file."""
    from models.signing import load_private_key

    if settings.allow_unsigned_rules and not settings.model_signing_key.exists():
        return None
    return load_private_key(settings.model_signing_key)


def _verifier(settings: Settings, key: Any = None) -> RulesHolder | None:
    """A holder that checks signatures as the workers do, or None when nothing here can.

    Given the signing ``key``, its own public half verifies: what this machine signs is what it
    trusts, wherever the public key file is (without it, a rollback once signed a forger's
    unsigned record). Else the model public key, else the signing key's public half; under the
    development override (``CHATGUARD_ALLOW_UNSIGNED_RULES``) nothing is checked, as on workers."""
    from models.errors import ModelError
    from models.signing import load_private_key, load_public_key
    from streams.rules_holder import RulesHolder

    if key is not None:
        return RulesHolder(key.public_key())
    if settings.allow_unsigned_rules:
        return RulesHolder(allow_unsigned=True)
    for load in (
        lambda: load_public_key(settings.model_public_key),
        lambda: load_private_key(settings.model_signing_key).public_key(),
    ):
        try:
            return RulesHolder(load())
        except ModelError:
            continue
    return None


def _is_verified(holder: RulesHolder, record: PublishedRules) -> bool:
    """Whether the key ``holder`` trusts signed ``record``: the only history a command may read
    versions from or republish (an unsigned record is anyone's)."""
    from models.errors import SignatureInvalid, SignatureMissing

    try:
        holder.check_signature(record)
    except (SignatureMissing, SignatureInvalid):
        return False
    return True


async def _trusted_history(
    command: str, settings: Settings, key: Any
) -> tuple[RulesHolder, list[PublishedRules]] | None:
    """The verifier of a command that signs and the verified records of the rules topic (others
    dropped as they are read: unsigned records may be many and large); None (after saying why)
    when nothing here can verify, so the command acts on nothing unverified."""
    from streams.rules_holder import read_history

    holder = _verifier(settings, key)
    if holder is None:
        print(
            f"chatguard rules {command}: cannot verify the rules topic's records (no public key "
            f"at {settings.model_public_key}); refusing to act on unverified history",
            file=sys.stderr,
        )
        return None
    if holder.allow_unsigned:
        print(
            f"chatguard rules {command}: CHATGUARD_ALLOW_UNSIGNED_RULES is on: signatures are "
            "not checked",
            file=sys.stderr,
        )
    verified, _ = await read_history(settings, keep=partial(_is_verified, holder))
    return holder, verified


def _publish(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from models.rules import RulesError
    from streams.rules_holder import newest_valid, publish

    settings = Settings.from_env()
    try:
        ruleset = _load(args.file)
        key = _signing_key(settings)
    except (RulesError, OSError, ModelError) as exc:
        print(f"chatguard rules publish: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        trusted = await _trusted_history("publish", settings, key)
        if trusted is None:
            return 1
        holder, verified = trusted
        # only verified records can clash: an unsigned one under the version is anyone's junk
        clash = [r for r in verified if r.version == ruleset.version and r.sha256 != ruleset.sha256]
        if clash:
            print(
                f"chatguard rules publish: version {ruleset.version!r} was published with other "
                "content; give the file a new version",
                file=sys.stderr,
            )
            return 1
        current, _ = newest_valid(verified, holder)
        await publish(settings, ruleset.source_text, key, verified)
        before = current.version if current else "none"
        print(f"published rules {ruleset.version} ({len(ruleset)} rules), replacing {before}")
        return 0

    return asyncio.run(run())


def _rollback(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from streams.rules_holder import newest_valid, publication_order, publish

    settings = Settings.from_env()
    try:
        key = _signing_key(settings)
    except ModelError as exc:
        print(f"chatguard rules rollback: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        trusted = await _trusted_history("rollback", settings, key)
        if trusted is None:
            return 1
        holder, verified = trusted
        current, before = newest_valid(verified, holder)
        if current is None or not before:
            print("chatguard rules rollback: no earlier version to return to", file=sys.stderr)
            return 1
        # the newest verified record of that version that validates: never a look-alike
        # unsigned record under the same version, which is what would be signed here
        previous = next(
            r
            for r in publication_order(verified, holder, newest_first=True)
            if r.version == before[0] and newest_valid([r])[0] is not None
        )
        await publish(settings, previous.text, key, verified)
        print(f"rolled back rules from {current.version} to {previous.version}")
        return 0

    return asyncio.run(run())


def _edit_learned(args: argparse.Namespace) -> int:
    """Republish the served rules file with TOKEN pinned (or removed) in its ``learned``
    section: a new, signed version like any other, so it reaches every worker the same way."""
    from models.errors import ModelError
    from models.learned import valid_token
    from models.rules import RulesError, canonical_token
    from streams.rules_holder import newest_valid, publish

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
        trusted = await _trusted_history(command, settings, key)
        if trusted is None:
            return 1
        current, _ = newest_valid(trusted[1], trusted[0])
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
    holder = _verifier(settings)
    ignored = 0

    def kept(record: PublishedRules) -> bool:
        nonlocal ignored
        verified = holder is None or _is_verified(holder, record)
        ignored += not verified
        return verified

    history, _ = asyncio.run(read_history(settings, keep=kept))
    if holder is None:
        # workers refuse every record not signed by the model key: what follows may be a forgery
        print(
            f"UNVERIFIED: no public key at {settings.model_public_key} nor signing key at "
            f"{settings.model_signing_key}, so no signature is checked here; workers serve only "
            "signed records (set CHATGUARD_MODEL_PUBLIC_KEY)"
        )
        current, before = newest_valid(history)
        serving, earlier = "newest record (UNVERIFIED, maybe not served):", "(UNVERIFIED) "
    else:
        if holder.allow_unsigned:
            print("CHATGUARD_ALLOW_UNSIGNED_RULES is on: signatures are not checked")
        if ignored:
            print(
                f"ignored {ignored} record(s) that are unsigned or not signed by the model key "
                "(workers refuse them)"
            )
        current, before = newest_valid(history, holder)
        serving, earlier = "serving", ""
    if current is None:
        print("no rules published: workers serve rules version none")
        _print_learned(EMPTY, asyncio.run(read_learned(settings)))
        return 0
    when = datetime.fromtimestamp(current.published_at, UTC).isoformat(timespec="seconds")
    by = current.published_by
    if holder is not None and not holder.allow_unsigned and not holder.publisher_signed(current):
        by += " (a name its signature does not cover: anyone could have written it)"
    print(f"{serving} rules {current.version}, published {when} by {printable(by)}")
    from models.rules import load_rules

    served = load_rules(current.text)
    _print_rules(served)
    if before:
        print(f"earlier versions {earlier}(newest first): {', '.join(before)}")
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
