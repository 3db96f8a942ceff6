"""A small generated corpus for testing the mechanics of fitting, saving and loading."""

from __future__ import annotations

import random

import numpy as np

LABELS = ("spam", "hate")
_SPAM = [
    "win a free prize now at {}",
    "cheap loans call {}",
    "免费领取红包 加微信 {}",
    "限时优惠 点击 {}",
]
_HATE = ["you people are vermin {}", "go back where you came from {}", "滚出去 垃圾 {}"]
_CLEAN = [
    "see you at the meeting {}",
    "can you send the report {}",
    "今晚一起吃饭吗 {}",
    "明天上班 {}",
]


def toy_data(n: int = 300, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts and a ``(n, 2)`` label matrix; a third of the rows do not know ``hate`` (-1)."""
    rng = random.Random(seed)
    texts, rows = [], []
    for i in range(n):
        kind = rng.choice(("spam", "hate", "clean", "clean"))
        pool = {"spam": _SPAM, "hate": _HATE, "clean": _CLEAN}[kind]
        texts.append(rng.choice(pool).format(rng.randint(0, 10_000)))
        spam = int(kind == "spam")
        hate = int(kind == "hate") if i % 3 else -1
        rows.append((spam, hate))
    return texts, np.asarray(rows, dtype=np.int8)
