"""``chatguard produce | tail``: sample traffic into the input topics, output topics printed."""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys

from chatguard.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    produce = subparsers.add_parser(
        "produce", help="send realistic sample traffic (some malformed)"
    )
    produce.add_argument("--count", type=int, default=500)
    produce.add_argument(
        "--rate", type=float, default=None, help="events per second (default: as fast as possible)"
    )
    produce.add_argument("--malformed", type=float, default=0.05, help="share of malformed events")
    produce.add_argument(
        "--reports", type=int, default=10, help="user reports against abusive accounts"
    )
    produce.add_argument("--seed", type=int, default=None)
    produce.set_defaults(handler=_produce)

    tail = subparsers.add_parser("tail", help="print decisions as they arrive")
    tail.add_argument(
        "--topic",
        choices=[
            "all",
            "decisions",
            "review",
            "enforcement",
            "deadletter",
            "actions",
            "updates",
            "reporters",
        ],
        default="decisions",
    )
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--count", type=int, default=None, help="stop after this many records")
    tail.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    tail.set_defaults(handler=_tail)


def _produce(args: argparse.Namespace) -> int:
    from devtools import produce
    from streams.moderators import moderator_key
    from streams.outgoing import send_events
    from streams.topics import ensure_topics

    settings = Settings.from_env()
    events = produce.build_events(
        args.count,
        malformed_share=args.malformed,
        seed=args.seed,
        max_text_chars=settings.max_text_chars,
    )
    reports = produce.build_reports(
        events, args.reports, seed=args.seed, moderator_key=moderator_key(settings)
    )

    async def run() -> float:
        await ensure_topics(settings)
        return await send_events(settings, [*events, *reports], rate=args.rate)

    seconds = asyncio.run(run())
    kinds = collections.Counter(event.kind for event in events)
    confirmations = sum(1 for r in reports if r.topic == "moderator.decisions")
    print(
        f"sent {len(events)} events ({kinds['valid']} valid, {len(events) - kinds['valid']} malformed), "
        f"{len(reports) - confirmations} reports and {confirmations} signed confirmations "
        f"to {settings.bootstrap_servers} in {seconds:.2f}s",
        file=sys.stderr,
    )
    return 0


def _tail(args: argparse.Namespace) -> int:
    from devtools.tail import run

    return run(Settings.from_env(), args.topic, args.from_beginning, args.count, args.timeout)
