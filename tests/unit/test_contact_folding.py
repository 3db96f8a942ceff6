"""Contacts written to slip past a filter are found as the contact they spell, and the learned
list matches them; sentences with a dot or the word "dot" do not become domains."""

from __future__ import annotations

import pytest

from models.contact_folding import phone_key
from models.learned import LearnedEntry, LearnedList, tokens_of
from models.rules import extract_contacts

DOMAIN_FORMS = (
    "evil-pay . top",
    "evil-pay .top",
    "evil-pay[.]top",
    "evil-pay(.)top",
    "evil-pay (.) top",
    "evil-pay{.}top",
    "evil-pay<.>top",
    "evil-pay dot top",
    "evil-pay DOT top",
    "evil-pay(dot)top",
    "evil-pay[dot]top",
    "evil-pay·top",
    "еvil-pay.top",  # a Cyrillic е
    "evil-paу.tоp",  # a Cyrillic у and о
    "évil-pay.top",
    "ev!l-pay.top",
    "evil-pay%2Etop",
    "e v i l - p a y . t o p",
    "е v і l - р а у . т о р",  # spaced out, and Cyrillic
    "evil-pay.t o p",
    "hxxps://evil-pay[.]top/claim",
    "go to www . evil-pay . top now",
)
PHONE_FORMS = (
    "07700 900123",
    "+44 7700 900123",
    "0044 7700 900123",
    "+44 (0)7700 900123",
    "O77OO 9OO 123",
    "077 00 90 01 23",
    "0 7 7 0 0 9 0 0 1 2 3",
)
WECHAT_FORMS = ("加 微 信 abc123x", "薇❤信 abc123x", "V信 a b c 1 2 3 x", "wx：abc123x")
# the same words and signs in ordinary sentences: no host may come out of them
SENTENCES = (
    "ok. my bus is late",
    "see you at 5. me too",
    "she wore a polka dot dress",
    "the dot on the map is our house",
    "I . am . tired",
    "a b c d e f g",
    "(.) lol",
    "Mr. Li is here",
    "lol!!! ok",
)


@pytest.mark.parametrize("text", DOMAIN_FORMS)
def test_an_obfuscated_domain_is_found_as_the_domain(text: str) -> None:
    assert "evil-pay.top" in extract_contacts(f"cheap loans {text} today").hosts


@pytest.mark.parametrize("text", PHONE_FORMS)
def test_a_phone_number_in_any_form_has_one_key(text: str) -> None:
    keys = {phone_key(phone) for phone in extract_contacts(f"call {text} now").phones}
    assert "7700900123" in keys


def test_chinese_numbers_national_and_international_share_a_key() -> None:
    national = extract_contacts("加我 13812345678").phones
    international = extract_contacts("加我 +86 138 1234 5678").phones
    assert {phone_key(p) for p in national} == {phone_key(p) for p in international}
    other = extract_contacts("加我 15812345678").phones  # the same last nine digits
    assert {phone_key(p) for p in other}.isdisjoint(phone_key(p) for p in national)


@pytest.mark.parametrize("text", WECHAT_FORMS)
def test_a_split_wechat_cue_still_finds_the_id(text: str) -> None:
    assert "abc123x" in extract_contacts(text).wechat


@pytest.mark.parametrize("text", SENTENCES)
def test_sentences_with_dots_and_the_word_dot_name_no_host(text: str) -> None:
    assert not extract_contacts(text).hosts


def test_plain_hosts_and_hosts_with_digits_are_unchanged() -> None:
    assert extract_contacts("see lo1.com and pay4u.cn").hosts == {"lo1.com", "pay4u.cn"}


def test_a_learned_domain_and_phone_block_every_form_of_them() -> None:
    spam = extract_contacts("claim at evil-pay.top or call 07700 900123")
    learned = LearnedList(
        LearnedEntry(token, kind, "fraud", 0.0, 100.0) for kind, token in tokens_of(spam)
    )
    for text in (*DOMAIN_FORMS, *PHONE_FORMS):
        assert learned.match(extract_contacts(f"hi {text}"), now=1.0), text


def test_an_entry_learned_before_phone_keys_still_matches_its_number() -> None:
    learned = LearnedList([LearnedEntry("07700900123", "phones", "fraud", 0.0, 100.0)])
    assert learned.match(extract_contacts("call 07700 900123"), now=1.0)
