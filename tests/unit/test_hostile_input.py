"""A hostile-input corpus: the normalizer, the model and the contact search stay linear in the
length of a message.

Python's ``re`` backtracks, so a pattern that can split one long run of characters between two
quantifiers, or retry a long run from each of its characters, turns one chat message into minutes
of CPU ("微信" + 19,990 spaces + "!" did). Each case here is a long run (``CHATGUARD_MAX_TEXT_CHARS``
long) of one character the patterns care about, alone and around and between each bait word they
look for. The bound is a ratio to a plain message of the same length timed in the same run (the
fastest of a few repetitions), so a busy machine slows both sides alike; no absolute timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from chatguard.settings import Settings
from models.learned import LearnedEntry, LearnedList
from models.normalize import normalize
from models.policy import quotes_a_message
from models.registry import ModelRegistry
from models.rules import extract_contacts, load_rules

LENGTH = Settings().max_text_chars
# A linear pattern costs a few times a plain text's per-character work; a quadratic one on a run
# this long costs thousands of times more. The bound leaves room for the slowest honest case.
MAX_RATIO = 15.0

RUNS: dict[str, str] = {
    "space": " ",
    "tab": "\t",
    "newline": "\n",
    "no_break_space": "\u00a0",
    "ogham_space": "\u1680",
    "en_quad": "\u2000",
    "em_space": "\u2003",
    "hair_space": "\u200a",
    "line_separator": "\u2028",
    "paragraph_separator": "\u2029",
    "narrow_no_break_space": "\u202f",
    "math_space": "\u205f",
    "ideographic_space": "\u3000",
    "space_ogham_pairs": " \u1680",
    "space_tab_pairs": " \t",
    **{f"separator_{ord(c):04x}": c for c in ".-_*·•|/\\~+,，、。・:：()"},
    "digits": "1",
    "digit_comma_pairs": "1,",
    "digit_comma_comma": "1,,",
    "digit_dot_pairs": "1.",
    "digit_space_pairs": "1 ",
    "digit_dash_pairs": "1-",
    "letters": "a",
    "letter_space_pairs": "a ",
    "letter_dot_pairs": "a.",
    "letter_dash_pairs": "a-",
    "chinese_space_pairs": "加 ",
    "chinese_full_stop_pairs": "加。",
    "chinese_digit_pairs": "加1",
    "chinese_digit_runs": "加1微1信1号2",
    "combining_acute": "\u0301",
    "combining_alternating_classes": "\u0301\u0316",
    "combining_beyond_plane_0": "\U0001d165\u0316",
    "zero_width_space": "\u200b",
    "zero_width_joiner_pairs": "a\u200d",
    "fullwidth_letters": "ａ",
    "fullwidth_digits": "１",
    "fullwidth_digit_comma": "１，",
    "letter_at_pairs": "a@",
    "letter_bang_pairs": "a!",
    "letter_star_pairs": "ab*",
    "starred_words": "ab*c ",
    "double_starred_words": "f**k ",
    "star_runs_in_words": "a**b",
    "stretched_words": "aaabbbccc ",
    "much_stretched_words": "aaabbbcccdddeeefff ",
    "word_dot_pairs": "abc.",
    # words cut by a separator, ending on a letter ("mon.ey" ... ".com")
    "dotted_words": ".com",
    "dashed_words": "-ab",
    "underscored_words": "_ab",
    # letters written twice: one word of pairs, and pairs that end on a single letter
    "doubled_letters": "aabbcc",
    # runs of letters the word list splits into words, each as long as a split is tried
    "run_together_words": "addmywechatforfreemoneynowplease ",
    "run_together_short_words": "atatatatatatatatatatatatatatatatatatatatatatatatatatatatatatatat ",
    "doubled_letters_spaced": "aabbccdd ",
    "hangul_fillers": "\u3164",
    "starred_words_run": "*ab",
    # halves of listed words ("mon ey"), each pair to be tried as one word
    "split_word_pairs": "mon ey fr ee lo ser ",
    "split_word_halves": "ey ",
    "right_to_left_overrides": "\u202e",
    "override_letter_pairs": "\u202ea",
    "negative_squared_letters": "🅵",
    # spaced letters in runs a word list may split back into words
    "spaced_alphabet": "a b c d e f g h i j k l m n o p q r s t u v w x y z  ",
    # contacts written to slip past a filter (models.contact_folding)
    "dot_words": "a dot ",
    "spaced_dots": "a . ",
    "bracketed_dots": "a[.]",
    "open_brackets": "[ ",
    "middle_dot_letters": "a·",
    "percent_encoded_dots": "a%2e",
    "letters_for_digits": "o1l",
    "look_alike_letters": "е",
    "chinese_symbol_pairs": "加❤",
    "digit_tilde_pairs": "1~",
    "digit_dash_pairs_long": "1—",
    "lenticular_dots": "【.",
    "spelled_dot_labels": "ab dot ",
    "chinese_numerals": "零一二",
    "enclosed_letters": "🅴",
    # characters NFKC writes as many (U+FDFA: eighteen; models.normalize.nfkc)
    "long_nfkc_forms": "\ufdfa",
    "long_nfkc_digit_pairs": "\ufdfa1",
    "squared_words": "\u3300\u33ff",
    # characters NFKC decomposes into marks (class 0 themselves), alone and between marks
    "marks_when_decomposed": "\u0f73",
    "mark_and_decomposed_mark": "\u0301\uff9e",
    # spacing marks with a combining class: the contact search drops only nonspacing ones
    "spacing_marks_alternating": "\U0001d16d\U0001d165",
    "spacing_marks_pairs": "\u302e\u1b44",
}
# marks in two blocks: NFKC moves each mark of the second past every one of the first
BLOCKS: dict[str, str] = {
    "spacing_mark_blocks": "\u302e" * (LENGTH // 2) + "\u1b44" * (LENGTH // 2),
    "decomposed_mark_blocks": "\u0f73" * (LENGTH // 2) + "\u0f71" * (LENGTH // 2),
    "bait_then_decomposed_marks": "微信" + "\u0f73" * (LENGTH - 8) + "abc123",
}

# one word or sign that starts (or sits inside) each bait pattern: contact cues Chinese and Latin,
# URL schemes and domains, e-mails and handles, money, phone numbers, punctuation Chinese spacing
BAITS: tuple[str, ...] = (
    "微信",
    "vx",
    "qq",
    "tg",
    "line",
    "号",
    "http",
    "www.",
    "@",
    "¥",
    "元",
    ".com",
    "+86",
    "%",
)


def _hostile(run: str, bait: str) -> str:
    """``bait``, half the run, ``bait``, the other half, then a character no pattern ends on."""
    half = run * ((LENGTH - 2 * len(bait) - 1) // (2 * len(run)))
    return f"{bait}{half}{bait}{half}!"


def _interleaved(run: str) -> str:
    """The run cut into pieces with every bait word between them."""
    room = LENGTH - sum(len(bait) for bait in BAITS) - 1
    piece = run * (room // (len(BAITS) + 1) // len(run))
    return piece + "".join(bait + piece for bait in BAITS) + "!"


def _plain() -> str:
    words = "the quick brown fox jumps over the lazy dog 天天开心 see you at 7 "
    return (words * (LENGTH // len(words) + 1))[:LENGTH]


def _fastest(function: Callable[[str], object], text: str, repeats: int) -> float:
    # CPU time of this process: other processes on a busy machine (the end-to-end tests run
    # beside these) don't count
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        function(text)
        best = min(best, time.process_time() - started)
    return best


def _assert_linear(
    function: Callable[[str], object], cases: dict[str, str], plain: str | None = None
) -> None:
    """Every case within ``MAX_RATIO`` of ``plain`` (default: a plain message) of its length; a
    function with a shortcut for plain text is compared with a text that takes its whole path."""
    baseline = max(_fastest(function, plain or _plain(), 5), 1e-4)
    slow = {}
    for name, text in cases.items():
        # one timing per case; only a case over the bound is timed again, to rule out a stall
        if _fastest(function, text, 1) > MAX_RATIO * baseline:
            ratio = _fastest(function, text, 3) / baseline
            if ratio > MAX_RATIO:
                slow[name] = round(ratio, 1)
    assert not slow, f"slower than {MAX_RATIO}x a plain text of {LENGTH} chars: {slow}"


@pytest.mark.parametrize("run_name", sorted(RUNS))
def test_normalizing_a_hostile_run_costs_a_constant_factor_of_plain_text(run_name: str) -> None:
    run = RUNS[run_name]
    cases = {}
    # a digit after the run is where a pattern's last check ("no letter or digit follows") fails
    for end in ("!", "1"):
        cases[f"alone{end}"] = (run * (LENGTH // len(run) + 1))[: LENGTH - 1] + end
        cases[f"interleaved{end}"] = _interleaved(run)[:-1] + end
        cases.update({f"{bait}{end}": _hostile(run, bait)[:-1] + end for bait in BAITS})
    assert all(len(text) <= LENGTH for text in cases.values())
    _assert_linear(normalize, cases)


# The contact search (``models.rules.extract_contacts``: rules, learned lists, sender behaviour,
# campaigns) reads the text only folded, not normalized, and only when it holds a digit or a dot:
# each bait word is followed by the run, the words a contact line puts before its id (号, a
# colon) with the run around them, and a digit or a dot at the end.
CONTACT_BAITS = (
    *BAITS, "扣扣", "企鹅", "wx", "wechat", "weixin", "威信", "微信号", "qq群", "dot", "[.]", "0"
)  # fmt: skip
ENDINGS = ("1", ".")


def _contact_line(run: str, bait: str, end: str) -> str:
    third = run * ((LENGTH - len(bait) - 4) // (3 * len(run)))
    return f"{bait}{third}号{third}：{third}{end}"


@pytest.mark.parametrize("run_name", sorted(RUNS))
def test_searching_a_hostile_run_for_contacts_costs_a_constant_factor_of_plain_text(
    run_name: str,
) -> None:
    run = RUNS[run_name]
    cases = {}
    for bait in CONTACT_BAITS:
        for end in ENDINGS:
            cases[f"{bait}-run-{end}"] = _hostile(run, bait)[:-1] + end
            cases[f"{bait}-line-{end}"] = _contact_line(run, bait, end)
    cases["interleaved"] = _interleaved(run)[:-1] + "1"
    assert all(len(text) <= LENGTH for text in cases.values())
    _assert_linear(extract_contacts, cases)


def _contact_lists(entries: int) -> str:
    """A rules file with a domain, a URL and a phone list of ``entries`` each."""
    domains = ", ".join(f"scam{i}.top" for i in range(entries))
    urls = ", ".join(f"pay{i}.example/claim" for i in range(entries))
    phones = ", ".join(f"1390000{i:04d}" for i in range(entries))
    return (
        "version: lists-1\n"
        f"lists:\n  domains: [{domains}]\n  urls: [{urls}]\n  phones: [{phones}]\n"
        "rules:\n"
        + "".join(
            f"  - {{id: {kind}, category: fraud, match: {{{kind}: {kind}}}, effect: block}}\n"
            for kind in ("domains", "urls", "phones")
        )
    )


def test_matching_many_contacts_against_long_lists_costs_a_constant_factor_of_plain_text() -> None:
    """A text packed with contact tokens (a host of thousands of labels, thousands of phones or
    URLs) against rules with 10,000 entries a list and a learned list of as many: set lookups,
    not one walk of a list per token, and not every parent of a host of any length."""
    entries = 10_000
    ruleset = load_rules(_contact_lists(entries))
    learned = LearnedList(
        LearnedEntry(f"learned{i}.top", "domains", "fraud", 0.0, None) for i in range(entries)
    )
    now = time.time()

    def match(text: str) -> tuple[object, object]:
        contacts = extract_contacts(text)
        return ruleset.match(text, {}, "chat", now, contacts=contacts), learned.match(contacts, now)

    cases = {
        "one_host_of_dots": "http://" + "." * (LENGTH - 8) + "x",
        "one_host_of_labels": ("a." * LENGTH)[: LENGTH - 3] + "com",
        "phones": ",".join(str(2_000_000 + i) for i in range(LENGTH // 8))[:LENGTH],
        "urls": " ".join(f"http://x{i:05d}.io" for i in range(LENGTH // 16))[:LENGTH],
        "hosts": " ".join(f"x{i:05d}.io" for i in range(LENGTH // 9))[:LENGTH],
    }
    assert all(len(text) <= LENGTH for text in cases.values())
    assert all(match("pay at scam7.top or call +86 13900001234")[0:1]), "the rules match"
    assert all(match("see pay.learned7.top")[1:]), "the learned list matches"
    _assert_linear(match, cases)


def test_marks_in_blocks_cost_a_constant_factor_of_plain_text() -> None:
    """Found by fuzzing every stage with runs of interesting characters (2026-12-05): 20,000
    marks in two blocks cost the contact search 0.6 s, 100 times a plain text."""
    _assert_linear(normalize, BLOCKS)
    _assert_linear(extract_contacts, BLOCKS)


# runs of quote marks, apostrophes and letters: where a quoted span may start, go on or close
QUOTE_RUNS = ("'a", "a'", " 'a", "a' ", "'", " '", "“a", "a”", "「a", "‘a", "a’", '"a', "a'a ")


def test_looking_for_a_quoted_message_costs_a_constant_factor_of_plain_text() -> None:
    """Every model block is checked for a quoted message (``models.policy``); a quote may hold
    apostrophes between letters, which must not let a search try each start to the end."""
    cases = {}
    for run in QUOTE_RUNS:
        cases[f"{run!r} alone"] = (run * (LENGTH // len(run)))[:LENGTH]
        cases[f"{run!r} interleaved"] = _interleaved(run)
        cases[f"{run!r} after a quote"] = ("'" + run * LENGTH)[: LENGTH - 1] + "x"
    cases |= {name: _interleaved(run) for name, run in RUNS.items()}
    assert all(len(text) <= LENGTH for text in cases.values())
    _assert_linear(quotes_a_message, cases)


def test_scoring_hostile_runs_costs_a_constant_factor_of_plain_text(
    default_model_registry: ModelRegistry,
) -> None:
    model = default_model_registry.load_current()

    def score(text: str) -> object:
        return model.score([text])

    cases = {name: _interleaved(run) for name, run in RUNS.items()}
    _assert_linear(score, cases | BLOCKS)


def test_the_issue_messages_are_normalized_as_before() -> None:
    """The messages that blocked a worker still get their bait recognised."""
    assert normalize("微信" + " " * 19_990 + "!") == "微信!"
    assert normalize("微信" + " " * 19_990 + "abc123") == "微信 contacttoken"
    assert normalize("1," * 10_000) == "1," * 10_000
    assert normalize("付款 1,000,000 元") == "付款 moneytoken"
    assert normalize(" \u1680" * 10_000 + "x") == "x"
