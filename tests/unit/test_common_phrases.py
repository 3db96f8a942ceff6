"""Common clean phrases (``models/common_phrases.txt``): they and their near-duplicates never get
a fingerprint (so never form campaigns) nor a sender text key, while other texts still do."""

from __future__ import annotations

import pytest

from models.fingerprint import COMMON_PHRASES, band_keys, is_common, phrase_key
from models.normalize import normalize
from models.senders import text_key


def phrases() -> list[str]:
    lines = COMMON_PHRASES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_list_is_english_and_chinese_and_every_phrase_means_something() -> None:
    listed = phrases()
    assert len(listed) == len(set(listed)), "a phrase is listed twice"
    assert any(p.isascii() for p in listed) and any(
        "\u4e00" <= c <= "\u9fff" for p in listed for c in p
    )
    for phrase in listed:
        assert phrase_key(normalize(phrase)), phrase  # not only punctuation or emoji


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "OK!!!",
        "哈哈哈",
        "哈哈哈哈哈哈",
        "收到",
        "收到，谢谢!!",
        "新年快乐",
        "新年快乐！！🎉",
        "Happy Birthday!!! 🎂",
        "happy birthday to you",
        "HAPPY NEW YEAR TO YOU AND YOUR FAMILY",
        "祝你生日快乐，天天开心",
        "Ｍｅｒｒｙ Ｃｈｒｉｓｔｍａｓ!",
    ],
)
def test_common_phrases_as_people_type_them_are_common(text: str) -> None:
    normalized = normalize(text)
    assert is_common(normalized)
    assert band_keys([normalized]) == [()]
    assert text_key(normalized) == ""


@pytest.mark.parametrize(
    "text",
    [
        "merry christmas and a happy new year!!! 🎄",
        "Merry Christmas and a very happy new year",
        "happy new year to you and all your family!",
    ],
)
def test_near_duplicates_of_long_phrases_get_no_fingerprint(text: str) -> None:
    # long enough to be fingerprinted, and not the phrase itself: left out by its bands
    normalized = normalize(text)
    assert len(normalized) >= 16
    assert band_keys([normalized]) == [()]


@pytest.mark.parametrize(
    "text",
    [
        "加微信领红包，日结300，名额有限速来",
        "are you coming to the meeting at 3 pm today?",
        "新年快乐，祝你和家人身体健康，万事如意，心想事成！",  # a long greeting: a clean campaign
        "happy birthday! your prize is waiting, click the link to claim it today",
    ],
)
def test_other_texts_are_still_fingerprinted(text: str) -> None:
    normalized = normalize(text)
    assert not is_common(normalized)
    assert band_keys([normalized])[0]
    assert text_key(normalized)
