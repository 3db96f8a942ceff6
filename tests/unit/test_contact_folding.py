"""Contacts written to slip past a filter are found as the contact they spell, and the learned
list matches them; sentences with a dot or the word "dot" do not become domains."""

from __future__ import annotations

import pytest

from models.contact_folding import phone_key
from models.learned import LearnedEntry, LearnedList, tokens_of
from models.normalize import analyse
from models.rules import extract_contacts, may_carry_contacts

DOMAIN_FORMS = (
    "evil-pay ⋅ top",
    "evil-pay・top",
    "evil-pay .top",
    "evil-pay[.]top",
    "evil-pay(.)top",
    "evil-pay (.) top",
    "evil-pay{.}top",
    "evil-pay【.】top",
    "🅴🆅🅸🅻-🅿🅰🆈.🆃🅾🅿",
    "evil-pay 點 top",
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
    "07700~900~123",
    "07700 — 900 — 123",
    "07700·900·123",
    "零七七零零 九零零 一二三",
    "电话07700900123",
)
WECHAT_FORMS = (
    "加 微 信 abc123x",
    "薇❤信 abc123x",
    "V信 a b c 1 2 3 x",
    "wx：abc123x",
    "加V abc123x",
    "加我V：abc123x",
    "加威abc123x",
    "微信 (abc123x)",
)
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
    "remember the dot com bubble?",
    "I love you. Com back soon",
    "meet at the mall. com on guys",
    "use python 3.11 . io is faster now",
    "I am a .net dev",
    "ate at joe's . info desk said hi",
    "coffee · shop",
    "price: 3.50 · top up 10",
    "That . So dont rush",
    "Ok enjoy . R u there",
    "wait...what",
    "I got 10/10 10/10 10/10",
    "my wx is broken lol",
    "宝宝会数数了：一二三四五六七八九十",
    "World War II (1939–1945)",
    "预算 5000–8000 元",
    "2019|2020|2021",
    "欢迎参加volunteer活动",
    "微信(wechat)公众号",
    "wechat-enabled devices",
    "WeChat (official) account",
    "СТО.КОМ",
    "t h e . e n d",
)
# forms read through a dot a sentence could mean too: matched, never taught
LOOSE_FORMS = ("evil-pay . top", "evil-pay dot top", "evil-pay·top", "evil-pay ∙ top")


@pytest.mark.parametrize("text", DOMAIN_FORMS)
def test_an_obfuscated_domain_is_found_as_the_domain(text: str) -> None:
    found = extract_contacts(f"cheap loans {text} today")
    assert "evil-pay.top" in found.hosts | found.loose_hosts


@pytest.mark.parametrize("text", LOOSE_FORMS)
def test_a_domain_read_through_a_dot_a_sentence_could_mean_is_matched_not_taught(
    text: str,
) -> None:
    """Three accounts writing "polka dot top" taught polka.top, and innocent messages about a
    polka dot top were blocked; a host read only so is never evidence."""
    found = extract_contacts(f"cheap loans {text} today")
    assert found.loose_hosts == {"evil-pay.top"} and not found.hosts
    assert tokens_of(found) == []
    learned = LearnedList([LearnedEntry("evil-pay.top", "domains", "fraud", 0.0, 100.0)])
    assert learned.match(found, now=1.0)
    assert extract_contacts("I bought a polka dot top").loose_hosts <= {"polka.top"}
    assert tokens_of(extract_contacts("I bought a polka dot top")) == []


def test_the_contact_search_sees_dots_the_normalizer_turns_into_spaces() -> None:
    text = "cheap loans evil-pay ∙ top today"
    assert may_carry_contacts(analyse(text), text)


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
    found = extract_contacts(text)
    assert not found.hosts and not found.loose_hosts and not found.phones and not found.wechat


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


def test_a_host_under_no_real_suffix_is_never_taught() -> None:
    """655 of 80,644 innocent texts named a "domain" like i.ll ("i.ll be late") or index.html."""
    found = extract_contacts("i.ll be late, see index.html or x.xx, then evil-pay.top")
    assert found.hosts >= {"i.ll", "index.html", "evil-pay.top"}
    assert [token for _, token in tokens_of(found)] == ["evil-pay.top"]


def test_a_number_right_after_chinese_is_a_phone_only_when_shaped_like_one() -> None:
    """A Unicode word boundary took every number written right after Chinese for part of a word:
    501 of 502 mobile numbers so placed in the Chinese spam sets were missed. Orders, lottery
    issues and amounts are written the same way."""
    assert extract_contacts("电话13812345678").phones == {"13812345678"}
    assert extract_contacts("客服4001-528-528【新浪】").phones == {"4001528528"}
    assert extract_contacts("联系电话0755-86013388").phones == {"075586013388"}
    for text in ("订单号15758787座位", "双色球第2014092期开奖", "一个月25001000女孩子"):
        assert not extract_contacts(text).phones, text
