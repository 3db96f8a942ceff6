"""Near-duplicate fingerprints: obfuscated variants of one scam share a band, unrelated chat
almost never does, short and uniform texts get none, and keys are the same in every process."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from models.fingerprint import BANDS, band_keys
from models.normalize import normalize

TRAFFIC = Path(__file__).resolve().parents[2] / "devtools" / "samples" / "traffic.jsonl"
SCAM = "{p} {id} 领取新人红包{e}，日结{n}元，名额有限，先到先得，不收任何费用{e2}"
CONTACT_FORMS = ("加V信", "加 薇 信", "+V:", "加微信", "加vx", "威信", "➕V")
EMOJI = ("", "🎁", "🎁🎁", "🧧", "💰")


def scam_variants(count: int, seed: int = 7, template: str = SCAM) -> list[str]:
    """Light variants of one scam: the contact written many ways, other numbers, emoji and
    spacing (what a spammer rotates to get past exact-match filters)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = template.format(
            p=rng.choice(CONTACT_FORMS),
            id=f"a8k{rng.randrange(10)}",
            e=rng.choice(EMOJI),
            n=rng.choice((200, 300, 500, 800)),
            e2=rng.choice(EMOJI),
        )
        out.append(text.replace("，", " ") if rng.random() < 0.5 else text)
    return out


def keys(texts: list[str]) -> list[set[str]]:
    return [set(k) for k in band_keys([normalize(t) for t in texts])]


def clean_traffic() -> list[str]:
    rows = [json.loads(line) for line in TRAFFIC.read_text().splitlines() if line.strip()]
    return [row["text"] for row in rows if not row.get("expected")]


def test_the_issues_variants_share_a_band() -> None:
    texts = [
        "加V信 a8k9 领取新人红包，日结300元，名额有限，先到先得",
        "加 薇 信 a8k9 🎁 领取新人红包 日结500元 名额有限 先到先得",
        "+V: a8k9 领取新人红包，日结800元，名额有限，先到先得 🧧",
    ]
    found = keys(texts)
    assert all(len(k) == BANDS for k in found)
    for a, b in itertools.combinations(found, 2):
        assert a & b


def test_three_hundred_variants_meet_in_common_bands() -> None:
    """Every variant carries at least one band key that 20+ others carry too: counted per band,
    the whole campaign is seen."""
    found = keys(scam_variants(300))
    counts: dict[str, int] = {}
    for k in found:
        for band in k:
            counts[band] = counts.get(band, 0) + 1
    popular = {band for band, n in counts.items() if n >= 20}
    assert all(k & popular for k in found)


def test_unrelated_chat_almost_never_shares_a_band() -> None:
    found = [k for k in keys(clean_traffic()) if k]
    assert len(found) >= 100
    pairs = list(itertools.combinations(found, 2))
    shared = sum(1 for a, b in pairs if a & b) / len(pairs)
    assert shared < 0.01, f"{shared:.2%} of clean pairs share a band"
    # and none shares one with the scam's variants
    scam = set().union(*keys(scam_variants(300)))
    assert sum(1 for k in found if k & scam) <= len(found) // 100


@pytest.mark.parametrize(
    "text",
    ["ok", "哈哈哈", "哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈", "happy birthday!", "", "ab" * 40],
)
def test_short_or_uniform_texts_get_no_fingerprint(text: str) -> None:
    assert band_keys([normalize(text)]) == [()]


def test_a_batch_fingerprints_each_text_as_alone() -> None:
    texts = [normalize(t) for t in [*scam_variants(5), "ok", *clean_traffic()[:20]]]
    batch = band_keys(texts)
    assert batch == [band_keys([t])[0] for t in texts]
    assert band_keys([]) == []


def test_keys_are_the_same_in_another_process() -> None:
    """No salted ``hash()``: another interpreter (another PYTHONHASHSEED) computes the same keys."""
    text = normalize(scam_variants(1)[0])
    code = f"from models.fingerprint import band_keys; print(','.join(band_keys([{text!r}])[0]))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert other.stdout.strip().split(",") == list(band_keys([text])[0])
