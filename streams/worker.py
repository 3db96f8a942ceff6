"""Start a moderation worker: build it from the environment's settings, check the model, the
topics and the rules first, then run Faust's worker."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Sequence
from typing import Any

from streams.topics import TopicSpec


def changelog_topics(app: Any) -> list[TopicSpec]:
    """Every table's changelog topic as Faust would declare it (partitions, cleanup policy,
    retention), so it exists before an agent writes to the table."""
    from mode.utils.times import want_seconds

    specs = []
    for table in app.tables.values():
        topic = table.changelog_topic
        config: dict[str, str] = {}
        flags = (("compact", topic.compacting), ("delete", topic.deleting))
        policy = [flag for flag, on in flags if on]
        if policy:
            config["cleanup.policy"] = ",".join(policy)
        if topic.retention:
            config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
        partitions = table.partitions or app.conf.topic_partitions
        specs.append(TopicSpec(topic.get_topic_name(), partitions, config))
    return specs


def main(argv: Sequence[str]) -> int:
    """``argv`` are Faust worker options (e.g. ``-l info``)."""
    from chatguard.settings import Settings
    from models.errors import ModelError
    from streams.agents import build_worker
    from streams.fleet_signing import FleetKeyError
    from streams.moderators import ModeratorKeyError
    from streams.topics import ensure_topics_sync

    settings = Settings.from_env()
    try:
        worker = build_worker(settings)
    except (FleetKeyError, ModeratorKeyError) as exc:
        print(f"chatguard worker: {exc}", file=sys.stderr)
        return 2
    try:
        serving = worker.holder.load_current()
    except ModelError as exc:
        print(
            f"chatguard worker: cannot start without a model: {exc}\n"
            f"(registry: {settings.registry}; train one with `chatguard train --promote`; "
            "workers load only versions signed with the private key that matches "
            f"{settings.model_public_key}, see `chatguard keys --help`)",
            file=sys.stderr,
        )
        return 2
    try:
        created = ensure_topics_sync(settings, changelog_topics(worker.app))
    except Exception as exc:
        print(
            f"chatguard worker: cannot reach Kafka at {settings.bootstrap_servers}: {exc}",
            file=sys.stderr,
        )
        return 2
    # serve the newest published rules before taking traffic, so no event is decided without them
    try:
        rules_version = asyncio.run(worker.rules.catch_up(settings))
    except Exception as exc:
        print(f"chatguard worker: cannot read the rules topic: {exc}", file=sys.stderr)
        return 2
    print(
        f"chatguard worker: model {serving.version}, rules {rules_version}, policy {serving.policy.version}, "
        f"guarantee {settings.processing_guarantee}, group {settings.app_id}, internal records "
        f"{'signed' if worker.pipeline.signer.on else 'unsigned (no CHATGUARD_FLEET_KEY)'}"
        + (", a second fleet key accepted" if worker.pipeline.signer.accepted else "")
        + (f", created {len(created)} topics" if created else ""),
        file=sys.stderr,
        flush=True,
    )
    # Everything imported and loaded so far lives as long as the worker. Freezing it keeps the
    # collector from walking those objects on every full collection: at 5,500 events/s, p99
    # latency went from 121-148 ms to 54-66 ms (benchmarks/stream.py's latency phase).
    gc.freeze()
    sys.argv = ["chatguard", "worker", *argv]
    worker.app.main()  # runs until stopped; Faust exits the process itself
    return 0
