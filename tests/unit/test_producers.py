"""A producer's metadata names every topic it has sent to, also those its first all-topics
answer already held (aiokafka adds a topic only when a send finds it missing).

Real aiokafka producers, never started: the metadata answer is stood in by the cluster's
``partitions_for_topic``, which is what a send asks first."""

from __future__ import annotations

import aiokafka
import pytest

from streams.producers import TrackingProducer


def with_known_topic(producer: aiokafka.AIOKafkaProducer, topic: str) -> None:
    """As after the all-topics metadata fetch a producer starts with: ``topic`` is known."""
    cluster = producer.client.cluster
    cluster.partitions_for_topic = lambda name: {0, 1, 2} if name == topic else None


async def test_aiokafka_leaves_a_topic_known_at_start_unnamed() -> None:
    """The premise: if this fails, aiokafka names such topics itself and TrackingProducer can go."""
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")
    with_known_topic(producer, "account.actions")
    assert await producer.partitions_for("account.actions") == {0, 1, 2}
    assert "account.actions" not in producer.client._topics


@pytest.mark.parametrize("topics_before", [set(), {"moderation.decisions"}])
async def test_every_topic_sent_to_is_named_in_later_metadata_requests(
    topics_before: set[str],
) -> None:
    producer = TrackingProducer(bootstrap_servers="127.0.0.1:9")
    producer.client._topics = set(topics_before)
    with_known_topic(producer, "account.actions")
    assert await producer.partitions_for("account.actions") == {0, 1, 2}
    assert producer.client._topics == topics_before | {"account.actions"}
    assert producer.client._md_update_fut is not None  # and a refresh that names it is asked for
