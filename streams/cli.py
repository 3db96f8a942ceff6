"""``chatguard worker | produce | tail``: the moderation stream's commands."""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys

from chatguard.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser(
        "worker", help="run a moderation worker (Faust); options go to Faust, e.g. -l info"
    )
    worker.add_argument("passthrough", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    worker.set_defaults(handler=_worker)

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
        choices=["all", "decisions", "review", "enforcement", "deadletter", "actions", "updates"],
        default="decisions",
    )
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--count", type=int, default=None, help="stop after this many records")
    tail.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    tail.set_defaults(handler=_tail)


def _worker(args: argparse.Namespace) -> int:
    from streams.worker import main

    faust_args = [a for a in args.passthrough if a != "--"]
    return main(faust_args)


def _produce(args: argparse.Namespace) -> int:
    from streams import produce
    from streams.topics import ensure_topics

    settings = Settings.from_env()
    events = produce.build_events(
        args.count,
        malformed_share=args.malformed,
        seed=args.seed,
        max_text_chars=settings.max_text_chars,
    )
    abusive = sorted({f"acct-{i}" for i in range(produce.ABUSIVE_ACCOUNTS)})
    reports = produce.build_reports(abusive, args.reports, seed=args.seed)

    async def run() -> float:
        await ensure_topics(settings)
        return await produce.send_events(settings, [*events, *reports], rate=args.rate)

    seconds = asyncio.run(run())
    kinds = collections.Counter(event.kind for event in events)
    print(
        f"sent {len(events)} events ({kinds['valid']} valid, {len(events) - kinds['valid']} malformed) "
        f"and {len(reports)} reports to {settings.bootstrap_servers} in {seconds:.2f}s",
        file=sys.stderr,
    )
    return 0


def _tail(args: argparse.Namespace) -> int:
    from streams.tail import run

    return run(Settings.from_env(), args.topic, args.from_beginning, args.count, args.timeout)
