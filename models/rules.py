"""Moderation rules: a versioned YAML file of term lists, regexes, contact lists and score
conditions, compiled once into a matcher that applies them to a batch of scored events. Pure: no
Kafka (``streams.rules_holder`` distributes the file to the fleet).

A new scam script or fraud domain is answered in minutes by a rule instead of a retrain. The
matcher costs one Aho–Corasick pass over the normalized text for every term of every rule, one
RE2 search per regex rule (RE2 runs in linear time, so no pattern can hang a worker) and a set
lookup per contact token, so a list of 100,000 terms or 10,000 domains costs about what a short
one does. A file that does not validate is refused whole, with the rule id and line of each error.

The file::

    version: "2026-11-30.1"
    lists:                      # named lists, shared by rules
      scam_domains: [evil-pay.top, refund-help.cn]
    rules:
      - id: refund-scam-domains
        description: refund scam sites seen this week
        category: fraud
        match:                  # every condition given must hold
          terms: [退款理赔, refund center]   # any of them, on the normalized text
          regex: "claim\\s*code\\s*\\d{6}"   # RE2, on the normalized text
          domains: scam_domains              # a list name, or a list; also urls, phones, wechat, qq
          min_scores: {fraud: 0.3}           # the model's score for a category
          max_scores: {spam: 0.9}
        effect: block           # block | review | allow | {score: {fraud: 0.4, spam: -0.2}}
        sources: [chat, post:ad]  # optional: event sources it applies to
        expires: 2026-12-31T00:00:00Z  # optional: ignored after this instant
    learned:                    # optional: moderators' edits of the learned list (models.learned)
      pin: [evil-pay.top]       # blocks until unpinned
      remove: [partner-shop.com]  # never fires, learned or pinned

Precedence when several rules fire: an ``allow`` rule wins (an explicit allow-list beats the
model), then ``block``, then ``review`` (which never lowers a model's block). Score effects are
added to the model's scores before the policy decides, clipped to [0, 1].
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import reprlib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import ahocorasick
import re2
import yaml

from models.contact_folding import digits_view, loosened, reveal
from models.errors import ModelError
from models.normalize import (
    BLANKS,
    CJK,
    INVISIBLE,
    SIGNAL_NAMES,
    Analysis,
    is_english_word,
    nfkc,
    normalize,
)

RuleAction = Literal["block", "review", "allow", "score"]
CONTACT_KINDS = ("domains", "urls", "phones", "wechat", "qq")
MATCH_KEYS = frozenset({"terms", "regex", "min_scores", "max_scores", *CONTACT_KINDS})
RULE_KEYS = frozenset(
    {"id", "description", "category", "match", "effect", "sources", "expires", "enabled"}
)
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
NO_RULES_VERSION = "none"


def _compile_regex(pattern: str) -> Any:
    """RE2, its errors returned to the caller instead of logged to stderr."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


class RulesError(ModelError):
    """A rules file that does not validate; the message lists every error with rule id and line."""


# -- contact tokens ----------------------------------------------------------------------------------
# The normalizer replaces contact tokens with placeholders, so the raw tokens are extracted here,
# from the text folded just enough (NFKC, case, invisible characters, "点" for the dot).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me"})


# format characters and combining marks, deleted in one str.translate (the Basic Multilingual
# Plane, plus the characters the normalizer drops from the supplementary planes: tags, variation
# selectors, hieroglyph, shorthand and musical format controls); Hangul fillers are spaces
@functools.cache
def _drop_invisible() -> dict[int, str | None]:
    table: dict[int, str | None] = {
        cp: None for cp in range(0x10000) if unicodedata.category(chr(cp)) in _INVISIBLE_CATEGORIES
    }
    table.update(dict.fromkeys((cp for cp in INVISIBLE if cp > 0xFFFF), None))  # the normalizer's
    table.update(dict.fromkeys(BLANKS, " "))
    return table


_DIGIT = re.compile(r"\d")
_URL = re.compile(r"(?:https?|hxxps?)://[^\s<>\"'，。]+|www\.[^\s<>\"'，。]+", re.ASCII)
_HOST = re.compile(
    r"(?<![a-z0-9@_\-.])((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?![a-z0-9\-])"
)
# not after a Latin letter, digit or "+": after a Chinese character it is ("电话13812345678";
# a Unicode \w took every number written right after Chinese for part of a word); after an
# underscore it is ("call_13812345678": the normalizer reads that as a phone number too)
_PHONE = re.compile(r"(?<![a-z0-9+])\+?\d[\d\-\s().~·|–—]{5,20}\d(?!\d)")
# Each run of spaces is taken whole (``\s*+``) and ends at a mandatory word or sign: with three
# optional runs side by side, "微信" + 20,000 spaces + "1" was split between them every way
# there is, hours of CPU for one message (tests/unit/test_hostile_input.py)
# "加V" (not inside 参加, 更加, 增加, 追加, 附加: "参加volunteer" is no ID), and a bare "V" only
# with a colon after it ("V：mm_8866"); an ID in brackets only with both brackets
_WECHAT_CUE = (
    r"(?:微信|威信|薇信|徽信|v信|绿泡泡|(?<![参更增追附])加[v威薇徽]|(?<![a-z])v(?=\s*+[:：])|vx|wx"
    r"|weixin|wechat)\s*+(?:(?:号|id)\s*+)?"
)
_WECHAT_ID = r"([a-z][a-z0-9_\-]{5,19})(?![a-z0-9_\-])"
_WECHAT = re.compile(rf"{_WECHAT_CUE}(?:[:：]\s*+)?{_WECHAT_ID}")
_WECHAT_BRACKETED = re.compile(rf"{_WECHAT_CUE}[(（]\s*+{_WECHAT_ID}\s*+[)）]")
_QQ = re.compile(r"(?:扣扣|qq|企鹅)\s*+(?:(?:号|群)\s*+)?(?:[:：]\s*+)?(\d{5,12})(?!\d)")


@dataclass(frozen=True, slots=True)
class Contacts:
    """Contact tokens found in a text, in the forms the lists are compared in."""

    hosts: frozenset[str] = frozenset()  # lower-case host names, "www." removed
    # hosts read only through a dot a sentence could mean too ("evil-pay dot top"): matched
    # against lists, never taught (``models.contact_folding.loosened``)
    loose_hosts: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()  # lower-case, scheme and "www." removed
    phones: frozenset[str] = frozenset()  # digits only
    wechat: frozenset[str] = frozenset()
    qq: frozenset[str] = frozenset()


NO_CONTACTS = Contacts()


def _fold(text: str) -> str:
    invisible = _drop_invisible()
    # marks go before NFKC too: it sorts a run of combining marks by class, which costs the
    # square of the run's length (a 20,000-character run of two alternating marks: 70x a plain
    # text); after it as well, for the marks NFKC's decompositions bring in
    text = nfkc(text.translate(invisible)).casefold().translate(invisible)
    return text.replace("点", ".").replace("點", ".").replace("。", ".")


def _strip_url(url: str) -> str:
    url = url.split("://", 1)[-1]
    return url.removeprefix("www.").rstrip("/.,!?)")


# the longest name DNS resolves: a list entry is never longer, and every parent domain of a host
# is looked up (``_matches_contacts``, ``models.learned.candidates``), which for a "host" of
# 10,000 labels meant 10,000 joins of up to 20,000 characters per message
MAX_HOST_CHARS = 253


# parent domains looked up per host: a registered domain and a few subdomains sit in the last
# labels; a message of 78 hosts of 126 labels each made every look-up walk them all (175 ms)
MAX_HOST_LABELS = 10


def _dns_suffix(host: str) -> str:
    """``host``, or its longest parent domain that DNS could resolve (at most 253 characters)."""
    if len(host) <= MAX_HOST_CHARS:
        return host
    tail = host[-MAX_HOST_CHARS:]
    return tail if host[-MAX_HOST_CHARS - 1] == "." else tail.partition(".")[2]


_DATE_FIRST = re.compile(r"(\d{4})[-./ ](\d{1,2})[-./ ](\d{1,2})(?!\d)")
_DATE_LAST = re.compile(r"(\d{1,2})[-./ ](\d{1,2})[-./ ](\d{4}|\d{2})(?!\d)")
_GROUPS = re.compile(r"\d+")
_TIME_AFTER = re.compile(r"(?:\s\d{1,2}){0,3}")  # "2026-12-04 10 30": hours, minutes, seconds


_CHINESE_CHAR = re.compile(f"[{CJK}]")
# a mobile number, a 400/800 hotline, a landline with its area code (with or without +86)
_CHINESE_PHONE = re.compile(r"(?:86)?(?:1[3-9]\d{9}|[48]00\d{7}|0\d{9,11})")
_RANGE = re.compile(r"[–—~|·]+")
_NOT_DIGITS = re.compile(r"\D+")


def _is_date(candidate: str) -> bool:
    """A day and a month and a year, in either order, maybe a time after them."""
    for pattern, year_first in ((_DATE_FIRST, True), (_DATE_LAST, False)):
        date = pattern.match(candidate)
        if date and _TIME_AFTER.fullmatch(candidate[date.end() :]):
            a, b = int(date[2 if year_first else 1]), int(date[3 if year_first else 2])
            if 1 <= min(a, b) <= 12 and max(a, b) <= 31:  # a day and a month, in either order
                return True
    return False


def _not_a_phone(candidate: str) -> bool:
    """Digit runs that the phone pattern takes but that are not phone numbers: a date (and a
    time after it), an amount grouped in thousands, a version or an IP address. Spam names its
    deadline ("offer ends 24.12.2026"); learned as the phone 24122026, it blocked every
    innocent message that named the same day."""
    candidate = candidate.strip().removeprefix("+")
    if _is_date(candidate):
        return True
    parts = _RANGE.split(candidate)
    if len(parts) > 1 and all(
        _is_date(part.strip()) or len(_NOT_DIGITS.sub("", part)) <= 4 for part in parts
    ):
        return True  # 1939–1945, 5000~8000, 2019|2020|2021, 2010.6.1——2013.6.1: a range or list
    groups = _GROUPS.findall(candidate)
    separators = set(re.sub(r"\d+", "|", candidate).strip("|").split("|")) - {""}
    if len(groups) >= 3 and len(separators) == 1 and separators <= {".", " "}:
        first, rest = groups[0], groups[1:]
        if len(first) <= 3 and all(len(g) == 3 for g in rest) and "000" in rest:
            return True  # 1.000.000, 1 250 000: an amount
        if separators == {"."} and any(len(g) == 1 or len(g) >= 5 for g in rest):
            return True  # 10.0.19045.3803, 192.168.1.100: a version or an address
    return False


_NOT_IDS = frozenset({"wechat", "weixin", "number", "account", "official"})


def _wechat_ids(folded: str) -> frozenset[str]:
    """The WeChat IDs after a cue, but not the cue words or common English words an ID is
    never made of ("微信(wechat)公众号", "WeChat (official) account")."""
    found = {*_WECHAT.findall(folded), *_WECHAT_BRACKETED.findall(folded)}
    return frozenset(i for i in found if i not in _NOT_IDS and not is_english_word(i))


def extract_contacts(text: str) -> Contacts:
    """Domains, URLs, phone numbers (7+ digits), WeChat and QQ IDs written in ``text``."""
    folded = reveal(_fold(text))
    # most chat has no dot and no digit: then it has no domain, URL, phone or QQ number
    has_dot, has_digit = "." in folded, _DIGIT.search(folded) is not None
    numbers = digits_view(folded) if has_digit or not folded.isascii() else folded
    has_digit = has_digit or (numbers is not folded and _DIGIT.search(numbers) is not None)
    urls = {_strip_url(u) for u in _URL.findall(folded)} if has_dot else set()
    hosts = {h.removeprefix("www.") for h in _HOST.findall(folded)} if has_dot else set()
    hosts.update(u.split("/", 1)[0].split(":", 1)[0] for u in urls)
    phones = set()
    for match in _PHONE.finditer(numbers) if has_digit else ():
        candidate = match[0]
        digits = "".join(c for c in candidate if c.isdigit())
        if len(digits) < 7 or _not_a_phone(candidate):
            continue
        # right after Chinese, a number is an order, an issue or an amount as often as a phone:
        # there only what is shaped like a Chinese phone number is one
        after_chinese = match.start() > 0 and _CHINESE_CHAR.match(numbers[match.start() - 1])
        if not after_chinese or _CHINESE_PHONE.fullmatch(digits):
            phones.add(digits)
    loose = loosened(folded)
    loose_hosts = (
        {h.removeprefix("www.") for h in _HOST.findall(loose)} - hosts
        if loose is not folded
        else set()
    )
    return Contacts(
        hosts=frozenset(filter(None, map(_dns_suffix, hosts))),
        loose_hosts=frozenset(filter(None, map(_dns_suffix, loose_hosts))),
        urls=frozenset(urls),
        phones=frozenset(phones),
        wechat=_wechat_ids(folded),
        qq=frozenset(_QQ.findall(folded)) if has_digit else frozenset(),
    )


# a dot, a digit, a dot spelled out ("evil-pay dot top", "evil-pay·top": models.contact_folding)
# or a phone number in Chinese numerals
_DOT_OR_DIGIT = re.compile(r"[.点。\d·•‧・]|dot|[零〇一二三四五六七八九]{7}")
# dots the normalizer turns into spaces: looked for in the text itself
_SYMBOL_DOTS = re.compile(r"[∙⋅]")
_CONTACT_SIGNALS = tuple(
    SIGNAL_NAMES.index(name)
    for name in ("url_count", "phone_count", "handle_count", "contact_count", "email_count")
)


def may_carry_contacts(analysis: tuple[str, tuple[float, ...]], text: str = "") -> bool:
    """False when the normalizer's analysis of a text (``models.normalize.analyse``) shows it
    cannot hold a contact token: no URL, phone, handle, contact or e-mail placeholder, and no
    dot or digit left. Then ``extract_contacts`` (which folds and searches the text again) is
    skipped; most chat has no contact, and that search was half of what the rules cost."""
    normalized, signals = analysis
    return (
        any(signals[i] for i in _CONTACT_SIGNALS)
        or _DOT_OR_DIGIT.search(normalized) is not None
        or _SYMBOL_DOTS.search(text) is not None
    )


def contacts_of(texts: Sequence[str], memo: Mapping[str, Analysis]) -> dict[str, Contacts]:
    """The contacts of each text of ``texts`` that may carry one, by scoring's analysis of it
    in ``memo`` (a text missing from ``memo`` is left out). Computed where the scores are, in
    the scoring process, so the worker's event loop need not fold and search the text again."""
    found: dict[str, Contacts] = {}
    for text in texts:
        analysis = memo.get(text)
        if analysis is not None and text not in found and may_carry_contacts(analysis, text):
            found[text] = extract_contacts(text)
    return found


# a chat message's link previews (its ``urls`` field) searched for contacts, at most this many,
# each cut to the longest URL browsers take in practice
MAX_LINK_FIELDS = 16
MAX_LINK_CHARS = 2_048


def link_contacts(urls: object) -> Contacts:
    """The contact tokens of an event's ``urls`` field: links a platform sends as previews
    beside the text. A learned domain in them was not seen, and spam whose link was only there
    taught the learned list nothing."""
    if not isinstance(urls, list) or not urls:
        return NO_CONTACTS
    links = [u[:MAX_LINK_CHARS] for u in urls[:MAX_LINK_FIELDS] if isinstance(u, str)]
    return extract_contacts(" ".join(links)) if links else NO_CONTACTS


def merged(a: Contacts, b: Contacts) -> Contacts:
    """The contact tokens of both."""
    if b is NO_CONTACTS:
        return a
    if a is NO_CONTACTS:
        return b
    return Contacts(
        a.hosts | b.hosts,
        a.loose_hosts | b.loose_hosts,
        a.urls | b.urls,
        a.phones | b.phones,
        a.wechat | b.wechat,
        a.qq | b.qq,
    )


def known_contacts(
    text: str, analysis: Analysis | None, found: Mapping[str, Contacts] | None
) -> Contacts:
    """``text``'s contacts without searching it twice: none where scoring's analysis of it
    shows it cannot hold one, else what scoring found (``found``, from :func:`contacts_of`),
    else searched here (a text scoring did not analyse or search)."""
    if analysis is not None and not may_carry_contacts(analysis, text):
        return NO_CONTACTS
    known = found.get(text) if found is not None else None
    return known if known is not None else extract_contacts(text)


def _canonical(kind: str, value: str) -> str:
    """A list entry in the form its contact tokens are compared in."""
    value = _fold(value).strip()
    if kind == "phones":
        return "".join(c for c in value if c.isdigit())
    if kind == "urls":
        return _strip_url(value)
    if kind == "domains":
        return value.removeprefix("www.").strip(".")
    return value


def _matches_contacts(kind: str, entries: frozenset[str], contacts: Contacts) -> bool:
    if kind == "domains":  # a listed domain matches itself and its subdomains
        for host in contacts.hosts | contacts.loose_hosts:
            labels = host.split(".")[-MAX_HOST_LABELS:]
            if any(".".join(labels[i:]) in entries for i in range(len(labels) - 1)):
                return True
        return False
    # set lookups, never a walk over the list: a text may hold a thousand URLs or phones, and a
    # list ten thousand entries
    if kind == "urls":  # a listed URL matches as a prefix
        lengths = _entry_lengths(entries)
        return any(url[:n] in entries for url in contacts.urls for n in lengths if n <= len(url))
    if kind == "phones":  # with or without a country code: a listed number of 7+ digits is a
        # suffix, or a suffix after its trunk prefix 0 ("07700 900123" lists "+44 7700 900123")
        return any(
            phone in entries
            or any(
                phone[-n:] in entries or "0" + phone[-n:] in entries for n in range(7, len(phone))
            )
            for phone in contacts.phones
        )
    return bool(getattr(contacts, kind) & entries)


@functools.lru_cache(maxsize=256)
def _entry_lengths(entries: frozenset[str]) -> tuple[int, ...]:
    """The distinct lengths of a list's entries (a frozenset keeps its hash: the lookup is cheap)."""
    return tuple(sorted({len(entry) for entry in entries}))


# -- rules ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One validated rule; ``terms`` are normalized, contact entries canonical."""

    id: str
    description: str
    category: str
    action: RuleAction
    line: int
    score_delta: Mapping[str, float] = field(default_factory=dict)
    terms: tuple[str, ...] = ()
    regex: str | None = None
    contacts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    min_scores: Mapping[str, float] = field(default_factory=dict)
    max_scores: Mapping[str, float] = field(default_factory=dict)
    sources: frozenset[str] | None = None
    expires: float | None = None

    def reason(self) -> str:
        return f"rule:{self.id}"


@dataclass(frozen=True, slots=True)
class RuleHit:
    """What the rules did to one event: the rule ids that fired and the resulting changes."""

    fired: tuple[Rule, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.fired)


class RuleSet:
    """A compiled rules file. ``match`` gives the rules that fire for one event."""

    def __init__(
        self,
        version: str,
        rules: Sequence[Rule],
        source_text: str = "",
        *,
        pinned: Iterable[str] = (),
        removed: Iterable[str] = (),
    ) -> None:
        self.version = version
        self.rules = tuple(rules)
        # contact tokens moderators pinned to, or removed from, the learned list (models.learned)
        self.pinned = tuple(pinned)
        self.removed = tuple(removed)
        self.source_text = source_text
        self.sha256 = hashlib.sha256(source_text.encode()).hexdigest()
        self._term_rules: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            for term in rule.terms:
                self._term_rules.setdefault(term, []).append(index)
                # "free money" written "f r e e m o n e y" normalizes to "freemoney"
                if " " in term:
                    self._term_rules.setdefault(term.replace(" ", ""), []).append(index)
        self._automaton: Any = None
        if self._term_rules:
            automaton = ahocorasick.Automaton()
            for term, indices in self._term_rules.items():
                automaton.add_word(term, (term, tuple(indices)))
            automaton.make_automaton()
            self._automaton = automaton
        self._regexes = {
            i: _compile_regex(rule.regex) for i, rule in enumerate(self.rules) if rule.regex
        }
        self.needs_contacts = any(rule.contacts for rule in self.rules)
        self._needs_text = bool(self._term_rules or self._regexes)

    def __len__(self) -> int:
        return len(self.rules)

    def list_sizes(self) -> dict[str, int]:
        """Entries per rule (terms and contact entries), for metrics and ``rules show``."""
        return {
            rule.id: len(rule.terms) + sum(len(v) for v in rule.contacts.values())
            for rule in self.rules
        }

    def match(
        self,
        text: str,
        scores: Mapping[str, float],
        source: str | None,
        now: float,
        normalized: str | None = None,
        contacts: Contacts | None = None,
    ) -> list[Rule]:
        """Rules whose every condition holds for this event, in file order (``normalized`` and
        ``contacts``, when the caller has them, spare computing them again)."""
        if not self.rules:
            return []
        if self._needs_text and normalized is None:
            normalized = normalize(text)
        term_hits: set[int] = set()
        if self._automaton is not None and normalized:
            for end, (term, indices) in self._automaton.iter(normalized):
                if _on_word_boundary(normalized, end - len(term) + 1, end):
                    term_hits.update(indices)
        if contacts is None and self.needs_contacts:
            contacts = extract_contacts(text)
        fired = []
        for index, rule in enumerate(self.rules):
            if rule.expires is not None and now >= rule.expires:
                continue
            if rule.sources is not None and source not in rule.sources:
                continue
            if rule.terms and index not in term_hits:
                continue
            if rule.regex is not None and (
                normalized is None or self._regexes[index].search(normalized) is None
            ):
                continue
            if rule.contacts and not all(
                contacts is not None and _matches_contacts(kind, entries, contacts)
                for kind, entries in rule.contacts.items()
            ):
                continue
            if any(_score(scores, c) < v for c, v in rule.min_scores.items()):
                continue
            if any(_score(scores, c) > v for c, v in rule.max_scores.items()):
                continue
            fired.append(rule)
        return fired


def _score(scores: Mapping[str, float], category: str) -> float:
    value = scores.get(category, 0.0)
    return 0.0 if value is None or math.isnan(value) else float(value)


def _is_word_char(char: str) -> bool:
    # letters only: "casino888" still carries the term "casino"
    return char.isascii() and char.isalpha()


def _on_word_boundary(text: str, start: int, end: int) -> bool:
    """A Latin term must not be part of a longer word ("ass" in "class"); CJK needs no spaces."""
    if _is_word_char(text[start]) and start > 0 and _is_word_char(text[start - 1]):
        return False
    return not (_is_word_char(text[end]) and end + 1 < len(text) and _is_word_char(text[end + 1]))


# -- applying rules to decisions ------------------------------------------------------------------------
ACTION_RANK = {"allow": 0, "review": 1, "block": 2}


def combine(model_action: str, fired: Iterable[Rule]) -> tuple[str, list[str], Mapping[str, float]]:
    """``(action, rule reasons, score deltas)`` of the rules that fired for one event.

    ``model_action`` is the policy's action on the scores with the deltas already added (the
    caller re-decides after adding them); allow beats block beats review.
    """
    fired = list(fired)
    reasons = [rule.reason() for rule in fired]
    deltas: dict[str, float] = {}
    for rule in fired:
        for category, delta in rule.score_delta.items():
            deltas[category] = deltas.get(category, 0.0) + delta
    actions = {rule.action for rule in fired}
    if "allow" in actions:
        return "allow", reasons, deltas
    if "block" in actions:
        return "block", reasons, deltas
    if "review" in actions and ACTION_RANK[model_action] < ACTION_RANK["review"]:
        return "review", reasons, deltas
    return model_action, reasons, deltas


# -- parsing and validation ------------------------------------------------------------------------------
def load_rules(text: str, *, name: str = "rules file") -> RuleSet:
    """Parse and validate a rules file; raise :class:`RulesError` listing every error."""
    try:
        root, data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        msg = f"{name}: not valid YAML: {exc}"
        raise RulesError(msg) from exc
    except (ValueError, OverflowError) as exc:  # a scalar YAML reads but Python cannot hold
        msg = f"{name}: not valid YAML: a value cannot be loaded ({short_repr(str(exc))})"
        raise RulesError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{name}: expected a mapping with 'version' and 'rules' at the top"
        raise RulesError(msg)
    errors: list[str] = []
    version = data.get("version")
    if not isinstance(version, str | int | float) or not str(version).strip():
        errors.append("'version' is missing: every rules file names its version")
    unknown = set(data) - {"version", "lists", "rules", "learned"}
    if unknown:
        errors.append(
            f"unknown top-level keys {short_repr(sorted(map(str, unknown)))} (allowed: version, lists, rules, learned)"
        )
    pinned, removed = _parse_learned(data.get("learned"), errors.append)
    lists = data.get("lists") or {}
    if not isinstance(lists, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str | int) for x in v) for v in lists.values()
    ):
        errors.append("'lists' must map names to lists of strings")
        lists = {}
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        errors.append("'rules' must be a list of rules")
        raw_rules = []
    lines = _rule_lines(root, len(raw_rules))
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        line = lines[index]
        rule_errors: list[str] = []
        rule = _parse_rule(raw, line, lists, rule_errors.append)
        label = raw.get("id") if isinstance(raw, dict) else None
        name_it = short_repr(label) if label else f"#{index + 1}"
        where = f"rule {name_it} (line {line})"
        if rule is not None and rule.id in seen:
            rule_errors.append(f"duplicate id {rule.id!r}")
        errors.extend(f"{where}: {error}" for error in rule_errors)
        if rule is not None and not rule_errors:
            seen.add(rule.id)
            rules.append(rule)
    if errors:
        msg = f"{name} refused, nothing applied:\n  " + "\n  ".join(errors)
        raise RulesError(msg)
    return RuleSet(str(version).strip(), rules, text, pinned=pinned, removed=removed)


_PHONE_LIKE = re.compile(r"^[\d\s+\-().]+$")


def canonical_token(value: object) -> str:
    """A contact token as the learned list keys it: digits for a phone number, a host name
    without ``www.``, a WeChat ID in lower case."""
    folded = _fold(str(value)).strip()
    if _PHONE_LIKE.match(folded):
        return "".join(c for c in folded if c.isdigit())
    return _strip_url(folded).split("/", 1)[0].strip(".")


def _parse_learned(
    value: object, error: Callable[[str], None]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``learned: {pin: [...], remove: [...]}``: the moderators' edits of the learned list."""
    from models.learned import valid_token

    if value is None:
        return (), ()
    if not isinstance(value, dict) or set(value) - {"pin", "remove"}:
        error("'learned' must be a mapping with 'pin' and/or 'remove' lists of contact tokens")
        return (), ()
    out: list[tuple[str, ...]] = []
    for key in ("pin", "remove"):
        raw = value.get(key) or []
        if not isinstance(raw, list) or not all(isinstance(x, str | int) for x in raw):
            error(f"'learned.{key}' must be a list of contact tokens")
            raw = []
        tokens = [canonical_token(x) for x in raw]
        bad = [str(x) for x, t in zip(raw, tokens, strict=True) if not valid_token(t)]
        if bad:
            error(f"'learned.{key}' has entries that are not contact tokens: {short_repr(bad)}")
        out.append(tuple(dict.fromkeys(t for t in tokens if valid_token(t))))
    return out[0], out[1]


def _parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data, in one parse; libyaml's C parser when
    present (a 100,000-term file takes seconds instead of a minute). Aliases and repeated keys
    are refused before anything is built (``_check_nodes``)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_nodes(root)
        return root, loader.construct_document(root)
    finally:
        loader.dispose()


_MERGE_TAG = "tag:yaml.org,2002:merge"
_KEYS = (
    yaml.constructor.SafeConstructor()
)  # loads a scalar key the way the rules file's loader does


def _check_nodes(root: yaml.Node) -> None:
    """Raise a YAML error at the first alias, merge key or key repeated in one mapping.

    An alias lets a 600-byte file stand for billions of entries (the "billion laughs": the CLI
    grew to 3 GB on one), and a repeated key (or a merge key) silently replaces a value the
    author wrote; a rules file needs neither (shared entries go under ``lists``). The walk visits
    each node once, so it stops at the first alias however far that alias would expand."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # the composer hands an alias the very node of its anchor
            problem = (
                "a YAML alias (*name) repeats the value anchored here; aliases are not "
                "allowed in a rules file: write the value out, or put shared entries under 'lists'"
            )
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            # by the value a key loads as, as the mapping will hold it: `true`, `True` and `1`
            # (or `0x1`, `1.0`) are one key, and the later would replace the earlier silently
            keys: dict[object, yaml.ScalarNode] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    problem = "merge keys (<<) are not allowed in a rules file"
                    raise yaml.constructor.ConstructorError(None, None, problem, key.start_mark)
                if isinstance(key, yaml.ScalarNode):
                    loaded = _KEYS.construct_object(key)
                    first = keys.setdefault(loaded, key)
                    if first is not key:
                        problem = f"key {short_repr(key.value)} appears twice in one mapping"
                        if first.value != key.value:
                            line = first.start_mark.line + 1
                            problem += f" (written {short_repr(first.value)} on line {line})"
                        raise yaml.constructor.ConstructorError(None, None, problem, key.start_mark)
                stack += (value, key)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 80, 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxfrozenset = _SHORT.maxdict = 10


def short_repr(value: object) -> str:
    """``repr(value)`` cut to a few lines: an error message quotes what it refuses, never a
    whole list of a hundred thousand terms."""
    return _SHORT.repr(value)


def _rule_lines(root: yaml.Node | None, count: int) -> list[int]:
    """1-based line of each rule in the ``rules`` sequence (0 when unknown)."""
    lines = [0] * count
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if getattr(key, "value", None) == "rules" and isinstance(value, yaml.SequenceNode):
                for i, item in enumerate(value.value[:count]):
                    lines[i] = item.start_mark.line + 1
    return lines


def _parse_rule(
    raw: object, line: int, lists: Mapping[str, list[Any]], error: Callable[[str], None]
) -> Rule | None:
    if not isinstance(raw, dict):
        error("a rule is a mapping with id, category, match and effect")
        return None
    unknown = set(raw) - RULE_KEYS
    if unknown:
        keys = short_repr(sorted(map(str, unknown)))
        error(f"unknown keys {keys} (allowed: {sorted(RULE_KEYS)})")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        error(f"id {short_repr(rule_id)} must be lower-case letters, digits, '-', '_' or '.'")
        return None
    category = raw.get("category")
    if not isinstance(category, str) or not category:
        error("'category' is missing")
    action, deltas = _parse_effect(raw.get("effect"), error)
    match = raw.get("match")
    if not isinstance(match, dict) or not match:
        error("'match' is missing: give terms, regex, a contact list or score conditions")
        match = {}
    bad_keys = set(match) - MATCH_KEYS
    if bad_keys:
        keys = short_repr(sorted(map(str, bad_keys)))
        error(f"unknown match keys {keys} (allowed: {sorted(MATCH_KEYS)})")
    raw_terms = _entries("terms", match, lists, error)
    terms = tuple(dict.fromkeys(t for t in (normalize(str(x)) for x in raw_terms) if t))
    if "terms" in match and not terms and not isinstance(match["terms"], str):
        error("'terms' is empty")
    regex = match.get("regex")
    if regex is not None:
        if not isinstance(regex, str) or not regex:
            error("'regex' must be a non-empty string")
            regex = None
        else:
            try:
                _compile_regex(regex)
            except re2.error as exc:  # RE2 refuses backreferences and lookarounds
                reason = (
                    exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
                )
                error(f"regex {short_repr(regex)} does not compile under RE2: {reason}")
                regex = None
    contacts: dict[str, frozenset[str]] = {}
    for kind in CONTACT_KINDS:
        if kind in match:
            raw_entries = _entries(kind, match, lists, error)
            entries = frozenset(e for e in (_canonical(kind, str(x)) for x in raw_entries) if e)
            if not entries and not isinstance(match[kind], str):
                error(f"'{kind}' is empty")
            contacts[kind] = entries
    min_scores = _scores("min_scores", match.get("min_scores"), error)
    max_scores = _scores("max_scores", match.get("max_scores"), error)
    sources = raw.get("sources")
    if sources is not None and (
        not isinstance(sources, list) or not all(isinstance(s, str) for s in sources)
    ):
        error("'sources' must be a list such as [chat, post:ad]")
        sources = None
    expires = _expiry(raw.get("expires"), error)
    if raw.get("enabled", True) is False:
        expires = 0.0  # kept in the file, never fires
    return Rule(
        id=rule_id,
        description=str(raw.get("description") or ""),
        category=str(category or ""),
        action=action,
        line=line,
        score_delta=deltas,
        terms=terms,
        regex=regex,
        contacts=contacts,
        min_scores=min_scores,
        max_scores=max_scores,
        sources=frozenset(sources) if sources is not None else None,
        expires=expires,
    )


def _entries(
    kind: str,
    match: Mapping[str, Any],
    lists: Mapping[str, list[Any]],
    error: Callable[[str], None],
) -> list[Any]:
    """A match's entries: inline, or the name of a list under ``lists``."""
    value = match.get(kind)
    if value is None:
        return []
    if isinstance(value, str):
        if value not in lists:
            error(f"'{kind}' names list {short_repr(value)}, which 'lists' does not define")
            return []
        return list(lists[value])
    if isinstance(value, list) and all(isinstance(x, str | int) for x in value):
        return value
    error(f"'{kind}' must be a list of strings or the name of a list")
    return []


def _parse_effect(
    effect: object, error: Callable[[str], None]
) -> tuple[RuleAction, dict[str, float]]:
    if effect == "block" or effect == "review" or effect == "allow":
        return effect, {}
    if isinstance(effect, dict) and set(effect) == {"score"} and isinstance(effect["score"], dict):
        deltas = _scores("effect.score", effect["score"], error, lo=-1.0)
        if deltas:
            return "score", deltas
    allowed = "block, review, allow or {score: {category: ±delta}}"
    error(f"effect {short_repr(effect)} must be {allowed}")
    return "score", {}


def _scores(
    key: str, value: object, error: Callable[[str], None], lo: float = 0.0
) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(c, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for c, v in value.items()
    ):
        error(f"'{key}' must map categories to numbers")
        return {}
    out = {c: float(v) for c, v in value.items()}
    bad = {c: v for c, v in out.items() if not lo <= v <= 1.0}
    if bad:
        error(f"'{key}' values must be between {lo:g} and 1: {short_repr(bad)}")
    return out


def _expiry(value: object, error: Callable[[str], None]) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
        return when.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, str):
        try:
            return _expiry(datetime.fromisoformat(value), error)
        except ValueError:
            pass
    error(f"'expires' {short_repr(value)} is not a date or an ISO 8601 time")
    return None


EMPTY = RuleSet(NO_RULES_VERSION, [])
