"""aiokafka producers that keep asking the broker about every topic they have sent to.

An aiokafka client starts out fetching the metadata of *all* topics, and its producer adds a topic
to the ones it asks about only when a send finds the topic missing from its metadata. Topics it
first found in an all-topics answer are never added. Once any topic is added, the client asks
only about the added ones, so the others drop out of its metadata on the next refresh. A batch
already queued for one of them then has no known leader, and the sender's metadata refreshes
never bring it back, since they do not ask about its topic. Only a new send to that topic does.

This stalled workers. A send to a topic missing from the all-topics answer switches the client
to named topics: after a broker pause (a slow CI machine, or SIGSTOP in
``tests/e2e/test_outage.py``) the answer can leave out topics whose partitions are briefly
without a leader, and a topic created after the producer started is missing too. The
strike-table changelog and ``account.actions`` batches then waited for ever: their agent sent
nothing more until they were delivered. :class:`TrackingProducer` names every topic it sends to
from the first send on.
"""

from __future__ import annotations

from typing import Any

import aiokafka


def track_sent_topics(producer: aiokafka.AIOKafkaProducer) -> None:
    """Make ``producer``'s client ask about every topic a send or partition lookup names."""
    client = producer.client
    wait_on_metadata = client._wait_on_metadata

    async def tracked_wait_on_metadata(topic: str) -> Any:
        if topic not in client._topics:
            asked = client.add_topic(topic)  # a refresh that now names it; nothing waits for it
            asked.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await wait_on_metadata(topic)

    client._wait_on_metadata = tracked_wait_on_metadata


class TrackingProducer(aiokafka.AIOKafkaProducer):
    """An aiokafka producer whose metadata always covers the topics it has sent to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        track_sent_topics(self)
