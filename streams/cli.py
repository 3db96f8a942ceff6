"""``chatguard worker | moderate``: the moderation stream's commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from chatguard.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser(
        "worker", help="run a moderation worker (Faust); options go to Faust, e.g. -l info"
    )
    worker.add_argument("passthrough", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    worker.set_defaults(handler=_worker)

    moderate = subparsers.add_parser(
        "moderate",
        help="send a signed moderator record (needs CHATGUARD_MODERATOR_HMAC_KEY or _KEY_FILE)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--moderator", required=True, help="the moderator's id")
    common.add_argument(
        "--print", action="store_true", help="print the signed record instead of sending it"
    )
    kinds = moderate.add_subparsers(dest="kind", required=True, metavar="label|confirm|reject")
    label = kinds.add_parser("label", parents=[common], help="label an event's text for training")
    label.add_argument("event_id")
    label.add_argument("--text", required=True)
    label.add_argument(
        "--category", action="append", default=[], help="repeatable; none means clean"
    )
    for outcome in ("confirm", "reject"):
        decision = kinds.add_parser(outcome, parents=[common], help=f"{outcome} a user report")
        decision.add_argument("report_id")
        decision.add_argument("--reporter", required=True)
        decision.add_argument("--event", required=True)
        decision.add_argument("--account", required=True)
        decision.add_argument("--reason", required=True)
        decision.add_argument(
            "--category", action="append", default=[], help="what was found (default: reason)"
        )
    moderate.set_defaults(handler=_moderate)

    fold = subparsers.add_parser(
        "campaign-fold",
        help="count campaigns in a process of its own (workers with CHATGUARD_CAMPAIGN_FOLD=separate)",
    )
    fold.set_defaults(handler=_campaign_fold)

    campaigns = subparsers.add_parser(
        "campaigns", help="list the live campaigns on moderation.campaigns"
    )
    campaigns.add_argument("--json", action="store_true", help="one JSON object per campaign")
    campaigns.set_defaults(handler=_campaigns)


def _campaigns(args: argparse.Namespace) -> int:
    from streams.campaigns import read_campaigns

    settings = Settings.from_env()
    skipped: list[str] = []
    records = asyncio.run(read_campaigns(settings, skipped))
    return print_campaigns(records, settings.campaign_window_s, as_json=args.json, skipped=skipped)


def print_campaigns(
    records: list[dict[str, Any]],
    window_s: float,
    *,
    as_json: bool,
    now: float | None = None,
    skipped: list[str] | None = None,
) -> int:
    """Print the live campaigns ``records`` make, and a note on stderr for each record left out
    (``skipped``: those reading left out already, unsigned or not JSON).
    Records come from anyone who may write to the topic, so what is printed has its control
    characters escaped (``chatguard.terminal.printable``)."""
    import time

    import orjson

    from chatguard.terminal import printable
    from streams.campaigns import live_campaigns

    refused: list[str] = list(skipped or ())
    found = live_campaigns(records, window_s, time.time() if now is None else now, refused)
    for note in refused:
        print(printable(f"skipped {note}"), file=sys.stderr)
    for campaign in found:
        if as_json:
            print(printable(orjson.dumps(campaign).decode(), json=True))
            continue
        seen = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(campaign["last_seen"]))
        contacts = ",".join(campaign["contacts"]) or "-"
        line = (
            f"{campaign['campaign_id']}  {campaign['status']:<7}  events={campaign['events']}  "
            f"accounts={campaign['accounts']}  last_seen={seen}  contacts={contacts}  "
            f"sample={campaign['sample_event_id']}"
        )
        print(printable(line))
    if not found and not as_json:
        print("no live campaigns")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from streams.worker import main

    faust_args = [a for a in args.passthrough if a != "--"]
    return main(faust_args)


def _campaign_fold(args: argparse.Namespace) -> int:
    from streams.fold_process import main

    return main()


def _moderate(args: argparse.Namespace) -> int:
    import time

    import orjson

    from streams import moderators, topics
    from streams.outgoing import OutgoingEvent, send_events

    settings = Settings.from_env()
    key = moderators.moderator_key(settings)
    if key is None:
        print(
            "chatguard moderate: set CHATGUARD_MODERATOR_HMAC_KEY or "
            "CHATGUARD_MODERATOR_HMAC_KEY_FILE (the key shared with the workers)",
            file=sys.stderr,
        )
        return 2
    if any(isinstance(v, str) and not v.isascii() and _not_utf8(v) for v in _strings(args)):
        print("chatguard moderate: an argument is not valid UTF-8", file=sys.stderr)
        return 2
    if args.kind == "label":
        record = moderators.label_record(
            key,
            event_id=args.event_id,
            text=args.text,
            categories=args.category,
            moderator_id=args.moderator,
            at=time.time(),
        )
        topic, record_key = topics.MODERATOR_LABELS, args.event_id
    else:
        report = {
            "report_id": args.report_id,
            "reporter_id": args.reporter,
            "event_id": args.event,
            "account_id": args.account,
            "reason": args.reason,
        }
        record = moderators.decision_record(
            key,
            report,
            outcome=args.kind,
            moderator_id=args.moderator,
            at=time.time(),
            categories=args.category,
        )
        topic, record_key = topics.MODERATOR_DECISIONS, args.report_id
    value = orjson.dumps(record)
    refused = _refused(settings, topic, value)
    if refused is not None:
        print(f"chatguard moderate: the workers would refuse it: {refused}", file=sys.stderr)
        return 2
    if args.print:
        print(value.decode())
        return 0
    event = OutgoingEvent(topic, record_key.encode(), value, record_key, "valid")
    asyncio.run(send_events(settings, [event]))
    print(f"sent a signed {record['type']} to {settings.topic(topic)}", file=sys.stderr)
    return 0


def _refused(settings: Settings, topic: str, value: bytes) -> str | None:
    """Why a worker would dead-letter this record, as the worker decodes it (ids, text length,
    the taxonomy's categories), or None: "sent" should mean it can count."""
    from models.taxonomy import TAXONOMY
    from streams.decoding import Event, check_categories, decode
    from streams.kinds import most_bytes_by_topic

    limits = most_bytes_by_topic(settings.max_event_bytes, settings.max_id_chars)
    read = decode(
        value,
        topic,
        max_event_bytes=limits.get(topic, settings.max_event_bytes),
        max_text_chars=settings.max_text_chars,
        max_id_chars=settings.max_id_chars,
    )
    if isinstance(read, Event) and read.event_type == "moderator.label":
        read = check_categories(read, TAXONOMY) or read
    return None if isinstance(read, Event) else f"{read.kind}: {read.error}"


def _strings(args: argparse.Namespace) -> list[str]:
    """Every text argument, also inside lists (``--category`` may repeat)."""
    found: list[str] = []
    for value in vars(args).values():
        found += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return found


def _not_utf8(text: str) -> bool:
    """A command-line argument that was not UTF-8 reaches Python with lone surrogates in it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
