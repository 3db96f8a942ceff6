"""The local broker's KRaft cluster ids are ones Kafka's storage formatter accepts."""

from __future__ import annotations

import base64
import re

from devtools.broker import new_cluster_id


def test_cluster_ids_never_start_with_a_dash_and_decode_to_16_bytes() -> None:
    # with a plain base64 uuid, 1 id in 64 starts with "-": 20,000 draws would hit ~310 of them
    ids = [new_cluster_id() for _ in range(20_000)]
    assert not [cluster for cluster in ids if cluster.startswith("-")]
    for cluster in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster), cluster
        assert len(base64.urlsafe_b64decode(cluster + "==")) == 16
    assert len(set(ids)) == len(ids)
    # the alphabet still includes "-" and "_" elsewhere: the ids stay uniformly random otherwise
    assert any("-" in cluster for cluster in ids) and any("_" in cluster for cluster in ids)
