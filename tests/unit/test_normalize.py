"""Table-driven tests of the normalizer: real obfuscation in English, Chinese and mixed text."""

from __future__ import annotations

import random
import unicodedata

import pytest

from models.normalize import (
    MARKS_WHEN_DECOMPOSED,
    MAX_NFKC_GROWTH,
    SIGNAL_NAMES,
    STARRED_WORDS,
    analyse,
    content_length,
    nfkc,
    normalize,
    signals,
)
from models.rules import extract_contacts

# (case id, input, expected normalized form)
EXPECTED = [
    ("fullwidth_latin", "Ｆｒｅｅ ｍｏｎｅｙ", "free money"),
    ("fullwidth_digits_phone", "电话：１３８００１３８０００", "电话: phonetoken"),
    ("zero_width_inside_word", "fr\u200bee mo\u200dney", "free money"),
    ("format_controls_outside_the_bmp", "fr\U0001d173ee mo\U0001bca0n\U000e0080ey", "free money"),
    ("underscores_between_words", "add_my_wechat_for_free_money", "add my wechat for free money"),
    (
        "underscores_beside_signs",
        "hi,_need_help!_ping_@tom mm_8866",
        "hi, need help! ping handletoken mm_8866",
    ),
    (
        "underscore_before_a_phone_number",
        "call_13812345678 or wx_13812345678 mm_8866 u_1234567x",
        "call phonetoken or wx contacttoken mm_8866 u_1234567x",
    ),
    # every letter but the first and last starred: the stars' count picks the listed word
    ("masked_word_of_the_starred_list", "no n*****s here, a b***h", "no niggers here, a bitch"),
    ("words_without_spaces", "addmywechatforfreemoney now", "add my wechat for free money now"),
    ("a_long_word_is_not_split", "combination thanksgiving", "combination thanksgiving"),
    ("every_letter_written_twice", "ffrreeee mmoonneeyy", "free money"),
    ("two_pairs_are_a_word_of_their_own", "xxoo", "xxoo"),
    # drawn as a blank as wide as a letter: a space to the reader
    ("hangul_fillers_for_spaces", "add\u3164my\uffa0wechat\u115fnow", "add my wechat now"),
    ("bom_and_bidi", "\ufeffcl\u202aick", "click"),
    # what a reader sees: right-to-left override shows "yenom eerf" reversed
    ("right_to_left_override", "\u202eyenom eerf\u202c now", "free money now"),
    ("cyrillic_lookalikes", "frее mоnеy", "free money"),
    ("greek_lookalikes", "Сasιnο bοnus", "casino bonus"),
    ("small_capitals", "ꜰʀᴇᴇ ɢɪꜰᴛ", "free gift"),
    ("faux_cyrillic", "ƒяєє мσηєу", "free money"),
    ("negative_squared_letters", "🅵🆁🅴🅴 🅼🅾🅽🅴🆈", "free money"),
    ("negative_circled_letters", "🅕🅡🅔🅔", "free"),
    ("parenthesized_letters", "⒡⒭⒠⒠ gift", "free gift"),
    ("regional_indicator_letters", "🇫🇷🇪🇪", "free"),
    ("accented_letters", "ḟŕéé ḿóńéý", "free money"),
    ("combining_accent_on_each_letter", "f\u0301r\u0301e\u0301e\u0301", "free"),
    ("symbols_inside_words", "n!gg@s and p@kis, r3t@rd", "niggas and pakis, retard"),
    ("spaced_letters", "f r e e  m o n e y now", "free money now"),
    ("dotted_letters", "c.a.s.h prize", "cash prize"),
    ("dotted_words_keep_their_spaces", "y.o.u a.r.e a l.o.s.e.r", "you are a loser"),
    ("spaced_sentence_back_into_words", "k i l l y o u r s e l f", "kill yourself"),
    ("spaced_unknown_word_stays_joined", "v i a g r a", "viagra"),
    # an outside probe's separators, which let 9 of 9 flagged scams through (2026-12-05)
    ("apostrophe_between_letters", "c'l'a'i'm y'o'u'r p'r'i'z'e", "claim your prize"),
    ("degree_sign_between_letters", "f°r°e°e m°o°n°e°y", "free money"),
    ("any_one_symbol_between_letters", "y%o%u%r b<a<n<k a^c^c^o^u^n^t", "your bank account"),
    ("digits_split_by_commas_stay_a_list", "pick 1,2,3 or 4", "pick 1,2,3 or 4"),
    ("two_letters_and_a_symbol_stay", "a:b x<y", "a:b x<y"),
    ("repeated_letters", "soooooo gooood", "so good"),
    ("stretched_letters_to_a_word", "yooouuu aaarrreee freeeee heeelllooo", "you are free hello"),
    ("stretched_unknown_word_capped", "zzzzzorp", "zzorp"),
    ("leetspeak", "fr33 c4sh p0rn", "free cash porn"),
    ("leetspeak_mostly_digits", "y0u 4r3 such 4 l053r", "you are such 4 loser"),
    ("digits_that_make_no_word_stay", "5g b4 42 x11", "5g b4 42 x11"),
    ("model_numbers_stay", "i5处理器 4s店 a4纸", "i5处理器4s店 a4纸"),
    ("cut_words_rejoined", "mon.ey cl-ick h_ere k*ll", "money click here kill"),
    ("cut_words_that_are_words_stay", "night.see well-known c*t", "night.see well-known c*t"),
    # people star out profanity and slurs, not "shot" or "chunk": those spellings are the words
    (
        "starred_words",
        "sh*t ch*nk n*gg*rs f**k b**ch a**hole",
        "shit chink niggers fuck bitch asshole",
    ),
    ("starred_ordinary_word", "gr*at job, rate 5** hotel", "great job, rate 5** hotel"),
    (
        "space_inside_words",
        "send me mon ey. fr ee gift, wor thless lo ser",
        "send me money. free gift, worthless loser",
    ),
    (
        "split_words_that_are_words_stay",
        "any one there to day? i m ok",
        "any one there to day? i m ok",
    ),
    ("zalgo", "Z̴a̷l̸g̶o text", "zalgo text"),
    ("cjk_symbols_between", "加★微★信 领红包", "加微信领红包"),  # Chinese needs no spaces
    ("cjk_spaced", "澳 门 葡 京 线 上 赌 场", "澳门葡京线上赌场"),
    ("cjk_full_stops_and_middle_dots", "加。微。信 领・红・包", "加微信领红包"),
    ("cjk_sentences_keep_full_stops", "好的。明天见。", "好的。明天见。"),
    ("cjk_filler_digit_or_letter", "加1微1信1领1红1包 加v薇v信v号v码", "加微信领红包加薇信号码"),
    ("cjk_dates_and_counts_stay", "2021年1月1日1点 第1第2第3名", "2021年1月1日1点第1第2第3名"),
    ("traditional_chinese", "澳門賭場線上開戶 後來", "澳门赌场线上开户后来"),
    (
        "url_keeps_domain",
        "verify at http://secure-bank.top/login?id=7",
        "verify at urltoken secure-bank.top",
    ),
    ("url_www_second_level", "see www.example.co.uk/page", "see urltoken example.co.uk"),
    ("url_spaced_scheme", "h t t p : / / x.cn", "urltoken x.cn"),
    ("url_chinese_dot", "访问abc点com领取", "访问 urltoken abc.com 领取"),
    # a word domain after a full stop and a space starts a sentence, not a link
    (
        "sentence_after_full_stop_is_no_link",
        "paid the rent. So tired. My bus. In a bit",
        "paid the rent. so tired. my bus. in a bit",
    ),
    ("word_domain_spaced_both_sides", "go to lucky . bet now", "go to urltoken lucky.bet now"),
    ("word_domain_with_path", "camz. live/join", "urltoken camz.live"),
    ("code_domain_after_full_stop", "go to abc. com", "go to urltoken abc.com"),
    ("cn_mobile_with_separators", "call 138-0013-8000 now", "call phonetoken now"),
    ("cn_mobile_plus86", "+86 138 0013 8000", "phonetoken"),
    ("uk_mobile_spaced", "call 07700 900123", "call phonetoken"),
    ("vanity_mobile", "13888888888", "phonetoken"),
    ("us_number_dotted", "+1 336.555.6110", "phonetoken"),
    # digits chat uses as words are not phone numbers: praise, laughter, luck, prices
    ("praise_666", "6666666 牛", "66牛"),
    ("laughter_2333", "23333333", "233"),
    ("luck_888", "88888888 发发发", "88发发"),
    ("repeated_pair", "17 17  17  17", "17 17 17 17"),
    ("price_list", "2.45 2.47 2.49 this week", "2.45 2.47 2.49 this week"),
    (
        "money_symbols_and_units",
        "¥500, 500元 and $1,000 or 5万",
        "moneytoken, moneytoken and moneytoken or moneytoken",
    ),
    ("handle", "@john_doe check this", "handletoken check this"),
    ("email", "mail abc.x@gmail.com now", "mail emailtoken now"),
    ("wechat_id", "加微信 abc888 了解", "加微信 contacttoken 了解"),
    ("wechat_id_colon_spaced", "加 微 信：wx_12345", "加微信 contacttoken"),
    ("qq_number", "联系QQ 123456789 看片", "联系qq contacttoken 看片"),
    ("vx_letters_only", "vx abcdef", "vx contacttoken"),
    # legitimate text that must not be mangled
    (
        "plain_sentence",
        "Thanks for dinner last night, see you soon",
        "thanks for dinner last night, see you soon",
    ),
    ("time_and_date", "Meeting at 10:30 on 2024-05-01", "meeting at 10:30 on 2024-05-01"),
    ("version_number", "upgrade to Kafka 3.9.1 today", "upgrade to kafka 3.9.1 today"),
    (
        "bank_notice",
        "Citi: a deposit of $1239.22 to account ending 3788",
        "citi: a deposit of moneytoken to account ending 3788",
    ),
    (
        "verification_code",
        "Your code is 123456, do not share it",
        "your code is 123456, do not share it",
    ),
    ("english_short_words", "I am a man", "i am a man"),
    ("french_accents", "Café crème, très bien", "cafe creme, tres bien"),
    ("exclamation_and_handle_kept", "hi! @tom ok!", "hi! handletoken ok!"),
    (
        "online_is_not_a_contact_cue",
        "deadline tomorrow, meet online",
        "deadline tomorrow, meet online",
    ),
    ("chinese_time", "明天下午三点开会", "明天下午三点开会"),
    ("address", "No. 12 Zhongshan Rd, Room 301", "no. 12 zhongshan rd, room 301"),
    (
        "textspeak_written_out",
        "hows ur throat now? r u ok pls",
        "hows your throat now? are you ok please",
    ),
    # (an underscore separates words: "ur_name" reads "your name")
    ("textspeak_only_whole_words", "u盘 r18 u're ur_name", "u盘 r18 u're your name"),
    (
        "textspeak_not_a_spaced_out_letter",
        "evri - u k - help, h r _ amy",
        "evri - u k - help, h r amy",  # a lone underscore separates
    ),
    ("textspeak_in_chinese", "我手机坏了 thx 明天 cu tmr", "我手机坏了 thanks 明天 cu tomorrow"),
    (
        "lookalike_alphabets",
        "ᑭᗩYᑭᗩᒪ ᖇᗴᖴᑌᑎᗪ ๏ภɭเภє ςครเภ๏ 加微信 ᑕᗩᔕᕼ",
        "paypal refund online casino 加微信 cash",
    ),
    ("decorated_latin_letters", "ƒɾęę ɱǫɲęƴ ƀȼđ Ⱨ", "free money bcd h"),
    ("turned_text_read_upright", "ʎǝuoɯ ǝǝɹɟ ɹnoʎ ɯᴉɐlɔ", "claim your free money"),
    ("turned_letters_in_place", "hi ɟɹǝǝ ɯouǝʎ", "hi free money"),
    ("real_thai_and_hebrew_stay", "ครับ ขอบคุณ ค่ะ שלום", "ครับ ขอบคุณ ค่ะ שלום"),
    ("currency_signs_stay_money", "₦500 ฿100 ₱89", "₦500 ฿100 ₱89"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in EXPECTED], ids=[c[0] for c in EXPECTED]
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


# (case id, plain, obfuscated variants that must fold to the same string)
SAME_AS_PLAIN = [
    (
        "en_phishing",
        "verify your account now",
        [
            "ｖｅｒｉｆｙ your account now",
            "ver\u200bify your acc\u200count now",
            "vеrіfy yоur ассоunt nоw",
            "v e r i f y your account now",
            "VERIFY YOUR ACCOUNT NOW",
            "verify your account now!!!"[:-3],
        ],
    ),
    (
        "en_prize",
        "free iphone prize",
        [
            "ｆｒｅｅ ｉｐｈｏｎｅ ｐｒｉｚｅ",
            "fr33 iphone prize",
            "f-r-e-e iphone prize",
            "frееее iphone prize",
            "🅵🆁🅴🅴 iphone prize",
            "f\u0301r\u0301e\u0301e\u0301 iphone prize",
            "f.r.e.e i.p.h.o.n.e p.r.i.z.e",
            "\u202eezirp enohpi eerf",
            "ǝzᴉɹd ǝuoɥdᴉ ǝǝɹɟ",
            "ᖴᖇᗴᗴ ᓰᑭᕼᝪᑎᗴ ᑭᖇᓰᘔᗴ",
            "ꓝꓣꓰꓰ ꓲꓑꓧꓳꓠꓰ ꓑꓣꓲꓜꓰ",
            "Ŧгєє เקђ๏ภє קгเչє",
            "ቻዪቿቿ ጎየዘዐክቿ የዪጎጊቿ",
            "ƒɾęę ıƥɦǫɲę ƥɾıȥę",
        ],
    ),
    (
        "zh_gambling",
        "澳门赌场首充送彩金",
        [
            "澳 门 赌 场 首 充 送 彩 金",
            "澳★门★赌★场首充送彩金",
            "澳\u200b门\u200d赌场首充送彩金",
            "澳-门-赌-场首充送彩金",
            "澳門賭場首充送彩金",
            "澳'门'赌'场'首'充'送'彩'金",
            '澳"门"赌"场首充送彩金',
            "澳丶门丶赌丶场首充送彩金",
        ],
    ),
    (
        "zh_contact",
        "加微信 abc888 领红包",
        ["加 微 信 abc888 领红包", "加微信：abc888 领红包", "加微信 ａｂｃ８８８ 领红包"],
    ),
    (
        "mixed",
        "兼职刷单 日结 urgent",
        ["兼 职 刷 单 日结 urgent", "兼职刷单 日结 ｕｒｇｅｎｔ", "兼职刷单 日结 urgеnt"],
    ),
]


@pytest.mark.parametrize(
    ("plain", "variant"),
    [(plain, v) for _, plain, variants in SAME_AS_PLAIN for v in variants],
    ids=[f"{cid}-{i}" for cid, _, variants in SAME_AS_PLAIN for i in range(len(variants))],
)
def test_obfuscated_variant_folds_to_the_plain_form(plain: str, variant: str) -> None:
    assert normalize(variant) == normalize(plain)


def test_signals_count_bait_and_match_names() -> None:
    values = dict(
        zip(
            SIGNAL_NAMES,
            signals("加微信 abc888 or call 13800138000, see http://x.top ¥500"),
            strict=True,
        )
    )
    assert values["url_count"] == 1
    assert values["phone_count"] == 1
    assert values["money_count"] == 1
    assert values["contact_count"] == 1
    assert values["handle_count"] == 0
    assert 0 < values["cjk_share"] < 1


def test_obfuscated_variant_has_the_plain_signals() -> None:
    plain = "claim your prize at http://win.top now"
    assert analyse("ｃｌａｉｍ your pr\u200bize at http://win.top now") == analyse(plain)


def test_content_length_counts_letters_outside_the_placeholders() -> None:
    assert content_length("13812345678") == 0  # the phone placeholder says nothing
    assert content_length("23333333") == 0  # laughter in digits is no word either
    assert content_length("vip") == 3
    assert content_length("我的新号码 13812345678") == 5
    assert content_length("ｖｉｐ\u200b!!") == 3  # counted after normalizing
    assert content_length("http://secure-bank.top") > 4  # the registered domain is text


def test_the_fingerprint_follows_what_the_normalizer_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model records the normalizer it was trained under (``models.artifact``); a change to
    any step's output on the probes is a new fingerprint."""
    import models.normalize as n

    now = n.fingerprint()
    assert len(now) == 16 and int(now, 16) >= 0
    assert n.fingerprint.__wrapped__() == now  # deterministic, not per process
    monkeypatch.setitem(n._TEXTSPEAK, "ur", "you are")
    assert n.fingerprint.__wrapped__() != now


def test_no_character_makes_the_text_grow_more_than_threefold() -> None:
    """U+FDFA is eighteen characters under NFKC: a 20,000-character message of it became 360,000
    and cost every later step eighteen times as much. Now at most three each, and what follows
    them is still read."""
    hostile = "\ufdfa" * 10_000
    assert len(nfkc(hostile)) <= MAX_NFKC_GROWTH * len(hostile)
    assert len(unicodedata.normalize("NFKC", hostile)) == 18 * len(hostile)  # what it was
    assert len(normalize(hostile)) <= MAX_NFKC_GROWTH * len(hostile)
    assert normalize(hostile + " 加微信 abc123").endswith("微信 contacttoken")
    assert "evil-pay.top" in extract_contacts(hostile + " evil-pay.top").hosts
    # a text without such characters is normalized as NFKC alone would
    assert nfkc("ﬁnd ①２ ㍻ ⑽") == unicodedata.normalize("NFKC", "ﬁnd ①２ ㍻ ⑽")
    # one such character in ordinary text keeps its whole form
    assert nfkc("peace be upon him \ufdfa") == unicodedata.normalize(
        "NFKC", "peace be upon him \ufdfa"
    )


def test_the_characters_that_decompose_into_marks_are_all_listed() -> None:
    """A character of class 0 whose NFKC decomposition is marks only sorts like a mark: a run of
    them missing from the list is a run NFKC sorts in quadratic time (U+0F73 x 20,000: 1.3 s)."""
    found = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or unicodedata.combining(chr(cp)):
            continue
        form = unicodedata.normalize("NFKD", chr(cp))
        if form and all(unicodedata.combining(c) for c in form):
            found[cp] = form
    assert found == MARKS_WHEN_DECOMPOSED


def test_long_runs_of_marks_are_put_in_order_as_nfkc_would() -> None:
    """The runs :func:`nfkc` sorts before NFKC sees them come out as NFKC alone makes them:
    random texts of marks of every class, characters that decompose into marks, and letters,
    precomposed letters and starters between them."""
    marks = [chr(cp) for cp in range(0x300, 0x370)] + [chr(cp) for cp in range(0x591, 0x5C8)]
    marks += ["\u0f71", "\u0f72", "\u0f74", "\u0f80", "\u302e", "\u1b44", "\U0001d165"]
    marks += ["\U0001d16d", "\u3099", "\u0344", *map(chr, MARKS_WHEN_DECOMPOSED)]
    others = ["a", "é", "ǅ", "1", " ", "加", "\u1100", "\u1161"]  # é and ǅ end in a mark
    rng = random.Random(5)
    for _ in range(200):
        text = "".join(
            rng.choice(others) if rng.random() < 0.03 else rng.choice(marks)
            for _ in range(rng.randint(300, 1_500))
        )
        assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_every_word_people_star_out_is_read_whichever_letters_are_starred() -> None:
    """Each word of ``starred_words.txt`` with one inner letter starred, and with two in a word of
    four letters or more, is read as itself, unless two of the list's words share the spelling."""
    words = [
        line
        for line in STARRED_WORDS.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert len(words) == len(set(words)) and all(w.isascii() and w.isalpha() for w in words)
    spellings: dict[str, set[str]] = {}
    for word in words:
        for i in range(1, len(word) - 1):
            spellings.setdefault(word[:i] + "*" + word[i + 1 :], set()).add(word)
        if len(word) >= 4:
            spellings.setdefault(word[0] + "**" + word[3:], set()).add(word)
    read = {spelling: normalize(f"you {spelling} now") for spelling in spellings}
    wrong = {
        spelling: got
        for spelling, got in read.items()
        if len(spellings[spelling]) == 1 and got != f"you {next(iter(spellings[spelling]))} now"
    }
    assert not wrong, wrong


# drawn as signs before the digits they go with ("prepended concatenation marks"), not invisible
_VISIBLE_FORMAT = {0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x6DD, 0x70F, 0x890, 0x891, 0x8E2}
_VISIBLE_FORMAT |= {0x110BD, 0x110CD}


def test_no_format_character_splits_a_word() -> None:
    """A format character is drawn as nothing: inside a word the reader sees the word, so must
    the model and the contact search. An outside probe put shorthand and musical format controls
    (outside the characters listed then) after every letter: 28% fewer harmful rows flagged."""
    format_characters = [
        chr(cp)
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) == "Cf" and cp not in _VISIBLE_FORMAT
    ]
    format_characters += [chr(0xE0080), chr(0xE0FFF)]  # default-ignorable, not assigned yet
    split = [f"U+{ord(c):04X}" for c in format_characters if normalize(f"fr{c}ee") != "free"]
    assert split == []
    hidden = [
        f"U+{ord(c):04X}"
        for c in format_characters
        if "evil.top" not in extract_contacts(f"go to ev{c}il.top").hosts
    ]
    assert hidden == []


def test_a_phone_number_split_by_hangul_fillers_is_still_a_contact() -> None:
    assert extract_contacts("call 138\u31641234\u31645678").phones == {"13812345678"}
