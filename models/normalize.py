"""Text normalization that undoes obfuscation (placeholder: NFKC + casefold until the full table lands)."""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    """Fold ``text`` to the form the classifier sees."""
    return unicodedata.normalize("NFKC", text).casefold()
