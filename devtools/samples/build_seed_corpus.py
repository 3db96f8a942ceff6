"""Build the labelled seed corpus (``seed_corpus.jsonl``) that the default model is trained on.

Every phrase below was written for chatguard. Rows come from two sources:

* hand-written lines, used as they are;
* small "frames": lists of interchangeable phrase parts (opening, offer, bait, closing) joined
  and filled with random bait values (phone numbers, QQ/WeChat IDs, links, amounts), so the
  wording varies from row to row instead of repeating one template.

The phrases and frames below are data: importing this module only records them
(``add_lines`` and ``add_frames`` add to a plan). :func:`build_rows` fills the bait values and
draws the frames with its own seeded generator, so
``python -m devtools.samples.build_seed_corpus`` rewrites ``training/seed/seed_corpus.jsonl``
byte for byte.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.taxonomy import TAXONOMY
from training.recipes import SEED_CORPUS

SEED = 20240611
OUT = SEED_CORPUS
CATEGORIES = TAXONOMY

# ---------------------------------------------------------------------------------------------
# bait values
# ---------------------------------------------------------------------------------------------

_SHADY_TLDS = ("top", "xyz", "cc", "vip", "icu", "club", "shop", "live", "site", "info")
_WORDS = (
    "win",
    "gift",
    "vip",
    "pay",
    "secure",
    "fast",
    "bonus",
    "lucky",
    "hot",
    "club",
    "bet",
    "cash",
    "verify",
    "auth",
    "help",
    "money",
    "deal",
    "prize",
    "go",
    "asia",
)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _lower(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def phone_cn(rng: random.Random) -> str:
    number = rng.choice("3456789") + _digits(rng, 9)
    return "1" + number if rng.random() < 0.8 else f"1{number[:2]}-{number[2:6]}-{number[6:]}"


def phone_en(rng: random.Random) -> str:
    return rng.choice(
        (
            f"+1 ({rng.randint(201, 989)}) 555-{_digits(rng, 4)}",
            f"07{_digits(rng, 3)} {_digits(rng, 6)}",
            f"+44 7{_digits(rng, 3)} {_digits(rng, 6)}",
            f"+63 9{_digits(rng, 2)} {_digits(rng, 3)} {_digits(rng, 4)}",
            f"({rng.randint(201, 989)}) {_digits(rng, 3)}-{_digits(rng, 4)}",
        )
    )


def qq(rng: random.Random) -> str:
    return str(rng.randint(10_000_000, 3_999_999_999))


def wx(rng: random.Random) -> str:
    stem = rng.choice(
        (
            "lily",
            "vip",
            "amy",
            "xiao",
            "mm",
            "kefu",
            "tt",
            "an",
            "coco",
            "bao",
            "jj",
            "ye",
            "sky",
            "win",
            "yy",
            "lucky",
            "sun",
            "qq",
            "xin",
            "tao",
        )
    )
    return rng.choice(
        (
            f"{stem}{_digits(rng, rng.randint(3, 6))}",
            f"{_lower(rng, 2)}{_digits(rng, 4)}{rng.choice(('', 'a', 'x', 'v'))}",
            f"{stem}_{_digits(rng, 3)}{_lower(rng, 1)}",
            f"{stem}{rng.choice(('520', '666', '888', '1314', '168', '999'))}",
        )
    )


def handle(rng: random.Random) -> str:
    return rng.choice(("@", "")) + rng.choice(
        (
            f"{_lower(rng, rng.randint(4, 7))}{_digits(rng, 2)}",
            f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}{_digits(rng, 2)}",
            f"{rng.choice(_WORDS)}{rng.choice(_WORDS)}official",
        )
    )


def shady_url(rng: random.Random) -> str:
    host = rng.choice(
        (
            f"{rng.choice(_WORDS)}{rng.choice(_WORDS)}{_digits(rng, rng.randint(0, 3))}",
            f"{_lower(rng, rng.randint(3, 6))}{_digits(rng, 2)}",
            f"{rng.choice(_WORDS)}-{_lower(rng, 4)}",
        )
    )
    path = rng.choice(
        (
            "",
            f"/{_lower(rng, 5)}",
            f"/?id={_digits(rng, 5)}",
            f"/{_lower(rng, 2)}{_digits(rng, 3)}",
            "/login",
            "/reg",
            "/app",
            "/m",
        )
    )
    scheme = rng.choice(("http://", "https://", "", "www."))
    if rng.random() < 0.15:
        return f"{rng.choice(('bit.ly', 't.cn', 'dwz.cn', 'tinyurl.com', 'is.gd'))}/{_lower(rng, 3)}{_digits(rng, 2)}{_lower(rng, 2)}"
    return f"{scheme}{host}.{rng.choice(_SHADY_TLDS)}{path}"


def amount_cn(rng: random.Random) -> str:
    return rng.choice(
        (
            "200",
            "300",
            "500",
            "800",
            "1000",
            "1,500",
            "2000",
            "3000",
            "5000",
            "8800",
            "1万",
            "2万",
            "5万",
            "10万",
            "6.8万",
            "288",
            "588",
            "1888",
        )
    )


def amount_en(rng: random.Random) -> str:
    cur = rng.choice(("$", "$", "£", "€", "USD ", "$"))
    return cur + rng.choice(
        (
            "50",
            "99",
            "150",
            "250",
            "300",
            "500",
            "750",
            "1,000",
            "1,250",
            "2,000",
            "5,000",
            "10,000",
            "49.99",
            "129.00",
            "320",
        )
    )


def code6(rng: random.Random) -> str:
    return _digits(rng, 6)


def last4(rng: random.Random) -> str:
    return _digits(rng, 4)


def name_cn(rng: random.Random) -> str:
    return rng.choice("王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高") + rng.choice(
        ("先生", "女士", "经理", "总", "姐", "哥", "老师", "主任")
    )


def name_en(rng: random.Random) -> str:
    return rng.choice(
        (
            "Emma",
            "Liam",
            "Olivia",
            "Noah",
            "Sophia",
            "Jack",
            "Mia",
            "Lucas",
            "Chloe",
            "Ethan",
            "Grace",
            "Ryan",
            "Zoe",
            "Daniel",
            "Hannah",
            "Sam",
        )
    )


def time_cn(rng: random.Random) -> str:
    return f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日{rng.randint(7, 22):02d}:{rng.randint(0, 59):02d}"


def date_en(rng: random.Random) -> str:
    month = rng.choice(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
    return f"{month} {rng.randint(1, 28)}"


def money_cn(rng: random.Random) -> str:
    return f"{rng.randint(3, 9999)}.{_digits(rng, 2)}"


def money_en(rng: random.Random) -> str:
    return f"{rng.randint(3, 2500)}.{_digits(rng, 2)}"


SLOTS: dict[str, Callable[[random.Random], str]] = {
    "phone": phone_cn,
    "phone_en": phone_en,
    "qq": qq,
    "wx": wx,
    "handle": handle,
    "url": shady_url,
    "amt": amount_cn,
    "amt_en": amount_en,
    "code": code6,
    "l4": last4,
    "name": name_cn,
    "name_en": name_en,
    "time": time_cn,
    "date": date_en,
    "money": money_cn,
    "money_en": money_en,
    "pct": lambda rng: str(rng.choice((5, 8, 10, 15, 20, 30, 50, 100, 200))),
    "n": lambda rng: str(rng.randint(2, 30)),
    "pickup": lambda rng: f"{rng.randint(1, 30)}-{rng.randint(1, 9)}-{rng.randint(1000, 9999)}",
    "plate": lambda rng: (
        rng.choice("京沪粤浙苏川鄂湘")
        + rng.choice("ABCDEFG")
        + "·"
        + _digits(rng, 1)
        + rng.choice(string.ascii_uppercase)
        + _digits(rng, 3)
    ),
    "order": lambda rng: _digits(rng, rng.choice((10, 12, 16))),
    "track": lambda rng: rng.choice(("SF", "YT", "ZTO", "JD", "1Z")) + _digits(rng, 12),
}


class _Fill(dict[str, str]):
    """Mapping for ``str.format_map`` that draws a fresh bait value for every placeholder."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        return SLOTS[key](self.rng)


def fill(rng: random.Random, template: str) -> str:
    return template.format_map(_Fill(rng))


# ---------------------------------------------------------------------------------------------
# collection
# ---------------------------------------------------------------------------------------------

Row = tuple[str, tuple[str, ...], str]
Frame = tuple[Sequence[Sequence[str]], str]  # phrase-part lists and the separator that joins them


@dataclass(frozen=True)
class _Planned:
    """Hand-written lines (``frames`` empty) or ``count`` rows drawn from ``frames``."""

    cats: tuple[str, ...]
    lang: str
    block: str = ""
    frames: Sequence[Frame] = ()
    count: int = 0


_PLAN: list[_Planned] = []


def add_lines(block: str, cats: Sequence[str], lang: str) -> None:
    """Plan every non-empty line of ``block`` (placeholders filled when built)."""
    _PLAN.append(_Planned(tuple(cats), lang, block=block))


def add_frames(frames: Sequence[Frame], cats: Sequence[str], lang: str, count: int) -> None:
    """Plan ``count`` distinct rows drawn from the frames in turn."""
    _PLAN.append(_Planned(tuple(cats), lang, frames=tuple(frames), count=count))


def compose(rng: random.Random, parts: Sequence[Sequence[str]], sep: str) -> str:
    chosen = [rng.choice(p) for p in parts]
    return sep.join(c for c in chosen if c)


class _Rows:
    """The rows built so far; a text already taken is not added twice."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._seen: set[str] = set()

    def add(self, text: str, cats: Sequence[str], lang: str) -> bool:
        text = re.sub(r"[ \t]+", " ", text).strip()
        # joining parts can leave "word , next" or doubled Chinese punctuation; tidy like a
        # person would
        text = re.sub(r" +([,.!?;:])", r"\1", text)
        text = re.sub(r"([，。：！？])[，。]+", r"\1", text)
        text = text.replace("，。", "。")
        if not text or text in self._seen:
            return False
        self._seen.add(text)
        self.rows.append((text, tuple(sorted(cats)), lang))
        return True


def build_rows(seed: int = SEED) -> list[Row]:
    """Every planned row, bait filled and frames drawn with ``random.Random(seed)``, each row
    tagged with its language and the whole shuffled; the same ``seed`` gives the same list."""
    rng = random.Random(seed)
    built = _Rows()
    for planned in _PLAN:
        if not planned.frames:
            for line in planned.block.strip().splitlines():
                line = line.strip()
                if line:
                    built.add(fill(rng, line), planned.cats, planned.lang)
            continue
        made, tries = 0, 0
        while made < planned.count and tries < planned.count * 50:
            parts, sep = planned.frames[tries % len(planned.frames)]
            tries += 1
            if built.add(fill(rng, compose(rng, parts, sep)), planned.cats, planned.lang):
                made += 1
    final = [(text, cats, detect_lang(text)) for text, cats, _ in built.rows]
    rng.shuffle(final)
    return final


def lines(block: str) -> list[str]:
    return [x.strip() for x in block.strip().splitlines() if x.strip()]


# =============================================================================================
# SPAM
# =============================================================================================

add_lines(
    """
Follow me and I follow back instantly!! f4f l4l
follow4follow? I always follow back 💯
Like my last 3 posts and I'll like yours, drop a comment when done
Want 10k real followers in 7 days? DM me for cheap packages
Cheap Instagram likes, 1000 for {amt_en}, delivered in an hour. DM!
Sorry to bother the group 🙏 I sell wholesale phone cases, MOQ 100 pcs, WhatsApp {phone_en}
Factory direct sneakers, all sizes in stock, add me for wholesale price list
Add me for wholesale!! bags shoes watches, best quality, ship worldwide
Hello dear, we are a professional SEO company, we can bring your website to Google page 1. Reply YES for a free audit
Need more customers? We send 1 million SMS for just {amt_en}. Contact {handle} on telegram
Subscribe to my channel pls!! just hit 900 subs, road to 1k 🙏🙏 {url}
Sub4sub anyone? comment your channel and I'll sub right away
Selling Netflix, Spotify and Disney+ premium accounts, lifetime warranty, DM for price
Best replica watches, Swiss movement, 1:1 copy, visit {url}
Hey guys check out my new store {url} use code GROUP20 for 20% off everything!!!
Join my telegram channel for daily deals and free stuff {handle}
Bulk email lists for sale, 5 million verified emails, any country
Custom logo T-shirts, hoodies, caps. No minimum order. Message me for a quote!
Hi, I saw your profile, are you interested in boosting your business with our digital marketing services?
PROMO PROMO PROMO 🔥🔥 everything 50% off this weekend only, link in bio
Hey everyone sorry for the spam but please vote for my cat in the contest {url} 😹
Get paid reviews for your Amazon listing, 5-star guaranteed, bulk discounts
Looking for resellers! Skincare products with 300% margin. PM me
Dropshipping suppliers list, 2000 verified vendors, only {amt_en}, instant download {url}
We buy and sell aged social media accounts, 5+ years old, bulk available
Free crypto airdrop for the first 500 people who join {handle}, retweet and tag 3 friends
Essay writing service, any subject, plagiarism free, 24h delivery. WhatsApp {phone_en}
Weight loss tea that REALLY works, lost 10kg in a month!! order at {url}
Who wants cheap game top-ups? Diamonds, UC, V-bucks 40% below store price, DM me
Repost this to 10 groups and get a free gift card!!! 🎁🎁
""",
    ["spam"],
    "en",
)

SPAM_EN_FRAMES = [
    (
        [
            [
                "Hi all!",
                "Hello group,",
                "Sorry to disturb 🙏",
                "Hey guys",
                "ATTENTION!!",
                "🔥🔥🔥",
                "Dear friends,",
                "Good news everyone!",
                "",
                "Hey dear,",
            ],
            [
                "we sell designer bags in 1:1 quality",
                "cheap followers and likes for any platform",
                "wholesale LED lights direct from the factory",
                "teeth whitening kits at factory price",
                "premium streaming accounts",
                "gaming chairs at wholesale prices",
                "vape pens and e-liquids",
                "bulk SMS and email marketing",
                "custom printed mugs and hoodies",
                "fake-free branded perfumes",
                "slimming coffee and detox tea",
                "website design and SEO packages",
                "hair extensions, 100% human hair",
                "solar panels with free installation",
                "phone accessories for resellers",
            ],
            [
                "— 70% off today only",
                ", buy 2 get 1 free",
                ", free shipping worldwide",
                ", lowest price guaranteed",
                ", wholesale and retail welcome",
                ", dropshipping supported",
                ", limited stock!!",
                "",
                ", prices start at {amt_en}",
            ],
            [
                "DM me",
                "WhatsApp {phone_en}",
                "text me on {phone_en}",
                "order at {url}",
                "telegram {handle}",
                "click {url} now",
                "add me for the price list",
                "check {url}",
                "message me for the catalogue",
            ],
        ],
        " ",
    ),
    (
        [
            ["Grow your", "Boost your", "Skyrocket your", "Level up your"],
            ["Instagram", "TikTok", "YouTube", "Twitter", "shop", "business page", "channel"],
            [
                "with real followers",
                "with organic traffic",
                "with 10k views",
                "in 24 hours",
                "overnight",
                "fast and cheap",
            ],
            [
                "👉 {url}",
                "— DM for packages",
                "— contact {handle}",
                "— WhatsApp {phone_en}",
                "!!! link in bio",
            ],
        ],
        " ",
    ),
    (
        [
            ["f4f", "follow for follow", "l4l", "s4s", "follow back", "like for like"],
            ["anyone?", "guys", "💯", "🙏", "always return", "100% follow back", "drop your @"],
            [
                "",
                "comment done",
                "let's grow together",
                "I'm at {n}k, help me hit the next",
                "no unfollowing!",
            ],
        ],
        " ",
    ),
]
add_frames(SPAM_EN_FRAMES, ["spam"], "en", 60)

add_lines(
    """
互粉互赞，回关必回，诚信互粉！
有没有互关的，关注我我秒回关
各位群友打扰了，本人做微商，面膜批发零售，需要的加v {wx}
厂家直销莆田鞋，一比一品质，加微信{wx}看图
招代理！一件代发，零库存零风险，宝妈学生都能做，vx：{wx}
抖音快速涨粉，1000粉只要{amt}元，包售后，q{qq}
打扰一下，有需要高仿包包的吗？实物拍摄，加我{wx}
新店开业全场五折，满99包邮，进店链接 {url}
专业代发广告，群发短信十万条，价格实惠，电话{phone}
需要刷好评的商家看过来，真人下单，安全不降权，扣{qq}
淘宝、拼多多店铺代运营，包流量包销量，加v咨询{wx}
日本奶粉纸尿裤代购，正品保证，假一赔十，微信{wx}
出售各种游戏账号，王者荣耀全皮肤号便宜出，有意私聊
进群领福利，每天红包雨，群号{qq}
转发这条消息到三个群就能领取奶茶券！
低价出售各类会员：爱奇艺、腾讯、优酷，一年只要{amt}元，加vx {wx}
本人长期收购二手手机、笔记本，上门回收，电话{phone}
想做副业的朋友加我，带你做社交电商，不压货
各种证书代办，不用考试，加q{qq}详谈
微信公众号互推，粉丝5000以上的来，私我
收徒！教你做短视频带货，零基础也能月入过万，扣扣{qq}
SEO优化排名，百度首页，不上首页不收费，联系{phone}
厂家招加盟商，奶茶店加盟费全免，详情请访问 {url}
批发零售各种零食，量大从优，一件也发，加我微信 {wx}
群里的宝宝们，我家洗衣凝珠今天秒杀价，需要的戳我
""",
    ["spam"],
    "zh",
)

SPAM_ZH_FRAMES = [
    (
        [
            [
                "打扰各位群友",
                "【福利来了】",
                "亲，",
                "各位宝宝们",
                "不好意思打扰一下🙏",
                "新品上市！",
                "厂家直销！",
                "",
                "老板们好，",
                "大家好，",
            ],
            [
                "面膜",
                "减肥茶",
                "高仿包包",
                "运动鞋",
                "微商货源",
                "奶粉",
                "点赞涨粉服务",
                "手机壳",
                "茶叶",
                "洗衣液",
                "广告位",
                "女装",
                "护肤品",
                "水果",
                "白酒",
                "口红",
                "蓝牙耳机",
                "保健品",
            ],
            [
                "一件代发",
                "全场五折",
                "买二送一",
                "批发零售",
                "量大从优",
                "包邮到家",
                "限时特价",
                "厂家价出",
                "清仓甩卖",
                "招代理",
                "诚招代理",
            ],
            [
                "加v：{wx}",
                "vx {wx}",
                "扣扣{qq}",
                "q群{qq}",
                "加微信{wx}了解",
                "戳链接{url}",
                "私聊我",
                "电话{phone}",
                "+v {wx}",
                "有意者私",
                "加我看朋友圈",
            ],
        ],
        "，",
    ),
    (
        [
            ["想涨粉的来", "直播间人气", "店铺销量", "公众号阅读量", "视频播放量", "小红书点赞"],
            ["快速提升", "一天破万", "真人操作", "稳定不掉", "价格最低"],
            ["联系{wx}", "q{qq}", "{url}", "私信我", "加v详聊"],
        ],
        "，",
    ),
    (
        [
            ["互粉", "互赞", "互关", "互推", "回关"],
            ["秒回", "必回", "诚信", "走起", "来的扣1", "不取关"],
            ["", "~", "！！", "🙏", "谢谢大家"],
        ],
        "",
    ),
]
add_frames(SPAM_ZH_FRAMES, ["spam"], "zh", 60)

add_lines(
    """
加v {wx} 领取free gift，限前100名
互fo互fo，follow我我秒回
代购韩国化妆品，100%正品，ins同款，dm我或者加wx {wx}
wholesale 批发 AirPods 耳机，一件也发，whatsapp {phone_en}
各种app会员，netflix/spotify 低价出，vx {wx}
亲亲～新品上架啦 link: {url} 全场8折
bro 需要 tiktok 涨粉吗，1k fans 只要 {amt} 块
jia wei xin {wx} kan tu, pi fa ling shou
""",
    ["spam"],
    "mixed",
)


# =============================================================================================
# FRAUD
# =============================================================================================

add_lines(
    """
Your bank account has been temporarily suspended due to unusual activity. Verify your identity at {url} within 24 hours
ALERT: a payment of {amt_en} was made from your account. If this wasn't you, cancel it here {url}
Your parcel could not be delivered due to an unpaid shipping fee of $1.99. Pay now: {url}
USPS: your package is on hold, please update your address {url}
IRS notice: you are eligible for a tax refund of {amt_en}. Submit your claim at {url}
Hi Mum, I dropped my phone in the toilet, this is my new number. Can you help me pay a bill today? I'll pay you back
Hi, it's your boss. I'm in a meeting, I need you to buy 5 Apple gift cards of $100 each for a client. Send me the codes, keep this confidential
Congratulations! You have won a brand new iPhone 15 in our annual draw. Claim it now, just pay {amt_en} delivery: {url}
You've been selected for a $1,000 Walmart gift card! Click to claim before it expires {url}
Double your bitcoin in 24 hours, guaranteed! Send 0.1 BTC and receive 0.2 BTC back
I'm a crypto trader and I made 300% this month. Let me manage your funds, minimum deposit {amt_en}
Hey, I sent you a 6-digit code by mistake, can you read it back to me please? It's urgent
This is Amazon customer support. We detected a fraudulent order of {amt_en}. Press 1 to speak to an agent or install AnyDesk so we can refund you
Your Netflix subscription payment failed. Update your card details at {url} to avoid suspension
Guaranteed loan approval, no credit check! Get up to {amt_en} today, just pay a small processing fee first
Earn $300-$800 a day working from home, just like videos and complete simple tasks! Contact {handle}
We are hiring online task assistants, pay daily. You need to top up your account first to unlock tasks
This is the police. There is a warrant for your arrest for tax evasion. Pay the fine immediately with gift cards to avoid arrest
Microsoft security alert: your computer is infected. Call our technicians now at {phone_en}
Your Apple ID has been locked. Confirm your information here {url} or your account will be deleted
Final notice: your car warranty is about to expire. Call {phone_en} now
Hello, I'm a US army doctor on a mission abroad. I need your help to receive my package, I will pay the customs fee back
Dear customer, your electricity will be disconnected tonight due to an overdue bill. Pay now at {url}
Your PayPal account has been limited. Log in to restore access: {url}
Investment opportunity: our AI trading bot earns 5% daily. Join now with {amt_en}, withdraw anytime {url}
Grandma it's me, I got arrested and need bail money. Please don't tell mom. A lawyer will call you
You have an unclaimed inheritance of $4.5 million. Reply with your full name, address and bank details
Congratulations, your number won £500,000 in the UK National Lottery. To claim send your bank details and a {amt_en} fee
Your Coinbase wallet will be frozen unless you verify your seed phrase at {url}
Verify your WhatsApp: send me the code you just received so I can add you to the family group
HMRC: you are owed a tax rebate of £{money_en}. Claim here {url}
Hi dear, I saw your profile and I think we are a match. I have a secret investment platform my uncle uses, I can teach you
""",
    ["fraud"],
    "en",
)

FRAUD_EN_FRAMES = [
    (
        [
            [
                "[{bank}]",
                "{bank} Alert:",
                "Security notice from {bank}:",
                "{bank}:",
                "Dear {bank} customer,",
            ],
            [
                "your account has been locked",
                "we noticed a suspicious login",
                "your card has been suspended",
                "an unauthorised transfer of {amt_en} is pending",
                "your online banking access will expire today",
                "your debit card ending {l4} has been blocked",
            ],
            [
                "— verify now at {url}",
                ". Confirm your details: {url}",
                ". To cancel, log in at {url}",
                ". Call our fraud team on {phone_en} immediately",
                ". Reply with your PIN to restore access",
                ". Update your information within 24h {url}",
            ],
        ],
        " ",
    ),
    (
        [
            [
                "Congrats!",
                "WINNER!!",
                "Dear lucky customer,",
                "🎉 Congratulations",
                "Final reminder:",
            ],
            [
                "you won a {prize}",
                "your number was drawn for a {prize}",
                "you are our 1,000,000th visitor and get a {prize}",
                "you have an unclaimed {prize}",
            ],
            [
                "— claim at {url}",
                ", just pay {amt_en} shipping",
                ". Reply CLAIM and send your bank details",
                ". Call {phone_en} to collect",
                ". Expires in 2 hours! {url}",
            ],
        ],
        " ",
    ),
    (
        [
            [
                "Part-time job:",
                "Work from home!",
                "Hiring now:",
                "Easy money:",
                "Remote job offer:",
            ],
            [
                "like YouTube videos",
                "rate hotels online",
                "review products",
                "boost app rankings",
                "do simple tasks on your phone",
            ],
            [
                "and earn {amt_en} a day",
                "for $5 per task",
                "and get paid instantly",
                ", daily salary",
            ],
            [
                "— contact {handle}",
                ", WhatsApp {phone_en}",
                ", sign up at {url}",
                ", small deposit needed to activate account",
            ],
        ],
        " ",
    ),
    (
        [
            [
                "Hi it's me",
                "Hey, it's your son",
                "Mom, it's me",
                "Dad, new number",
                "Hey it's {name_en}",
            ],
            ["I lost my phone", "my phone broke", "I'm stuck abroad", "my bank card got blocked"],
            [
                "can you send {amt_en} to this account?",
                "can you pay an urgent bill for me?",
                "please transfer {amt_en}, I'll explain later",
                "I need money for a taxi and a hotel tonight",
            ],
            ["", "don't call, my mic doesn't work", "please hurry", "don't tell anyone"],
        ],
        ", ",
    ),
]


def _bank_en(rng: random.Random) -> str:
    return rng.choice(
        (
            "Chase",
            "HSBC",
            "Barclays",
            "Wells Fargo",
            "Citi",
            "Bank of America",
            "Lloyds",
            "Santander",
        )
    )


def _prize_en(rng: random.Random) -> str:
    return rng.choice(
        (
            "iPhone 15 Pro",
            "$1,000 gift card",
            "Samsung TV",
            "cash prize of {amt_en}",
            "free cruise for two",
            "PS5",
            "MacBook Air",
        )
    )


SLOTS["bank"] = _bank_en
SLOTS["prize"] = lambda rng: fill(rng, _prize_en(rng))
add_frames(FRAUD_EN_FRAMES, ["fraud"], "en", 64)

add_lines(
    """
您好，我是市公安局刑侦支队民警，你的身份证涉嫌一起洗钱案件，请配合调查，不要告诉任何人
我是检察院的，你名下的银行卡涉嫌非法集资，需要把资金转入国家安全账户进行核查
您好，我是淘宝客服，您购买的商品质量有问题，我们为您办理双倍理赔，请添加客服QQ{qq}
您的快递丢失了，我们将给您三倍赔偿，请扫描二维码填写银行卡信息
兼职刷单，日结200-500，动动手指就能赚钱，只需要一部手机，加v{wx}
在家就能做的兼职，点赞关注就给佣金，先垫付后返款，本金加佣金立返
无抵押无担保，黑户也能贷，秒到账，先交{amt}元保证金激活额度
恭喜您被抽中为幸运用户，获得二等奖现金{amt}元及笔记本电脑一台，需先缴纳手续费
小王，我是张总，这是我新微信，有笔款急需你先转给对方，回头我给你签字
在吗？我手机号输错了，验证码发到你手机上了，能告诉我一下吗
你好，你的ETC已失效，请点击链接{url}重新认证，以免影响通行
【医保局】您的医保卡存在异常，即将冻结，请点击{url}进行核实
您好，我是学信网工作人员，您的校园贷账户需要注销，否则会影响个人征信
带你一起做USDT搬砖，稳赚不赔，导师一对一带单，日收益{pct}%
老同学，好久不见，我在外地出差钱包丢了，能先借我{amt}吗，回去马上还你
亲，您在我们平台开通了百万保障服务，每月自动扣费，如需取消请联系{phone}
尊敬的客户，您的积分即将清零，可兑换{amt}元现金，请登录{url}兑换
我是你儿子的班主任，学校要收资料费，请扫这个码转账{amt}元
您的航班因天气原因取消，请联系{phone}办理改签退款，补偿300元
游戏装备低价出售，先付款后发货，支付宝不方便就直接转银行卡
我是某某部队的采购员，要订一批货，你先帮我垫付一下供应商的货款
网上认识的"高富帅"男友带我投资一个平台，充了20万提不出来，还要我交税
内部消息，这只股票下周必涨三倍，进群跟着老师操作，q群{qq}
您的社保卡已被冻结，请拨打{phone}联系工作人员解冻
特大好消息：国家补贴政策下来了，每人可领取{amt}元，点击{url}填写信息领取
我是京东金融客服，您开通过学生账户，根据规定需要注销，否则每年扣费
刷单返利，第一单返10元，后面单子越大返得越多，联系{wx}
代办信用卡，不看征信，高额度，先交办卡费{amt}元
你的快递里有违禁品，已被海关扣押，请转接公安机关处理
亲爱的，我在国外这边有个投资项目，稳赚的，你先充一点试试，我带你赚
""",
    ["fraud"],
    "zh",
)

FRAUD_ZH_FRAMES = [
    (
        [
            [
                "【{bank_cn}】",
                "【{bank_cn}】尊敬的客户：",
                "{bank_cn}提醒您：",
                "【{bank_cn}】温馨提示：",
            ],
            [
                "您的账户存在异常登录",
                "您的银行卡已被冻结",
                "您的信用卡积分即将过期",
                "您的网银证书已过期",
                "您尾号{l4}的银行卡被限制交易",
                "您的账户将于今日停用",
            ],
            [
                "请立即登录{url}验证身份",
                "请点击{url}进行解冻",
                "请回复验证码完成认证",
                "请致电{phone}处理",
                "请尽快到{url}更新信息，逾期作废",
            ],
        ],
        "，",
    ),
    (
        [
            ["恭喜您！", "恭喜！", "尊敬的用户：", "【中奖通知】", "好消息！"],
            [
                "您的手机号在我台节目中被抽中",
                "您被抽中为本期幸运观众",
                "您获得了周年庆特等奖",
                "您的账号获得{amt}元红包",
            ],
            [
                "奖品为{amt}元现金和苹果手机一部",
                "请先缴纳{amt}元保证金",
                "需支付个人所得税后领取",
                "请登录{url}领取",
                "请添加客服微信{wx}领奖",
            ],
        ],
        "，",
    ),
    (
        [
            ["招兼职", "手机兼职", "宝妈兼职", "学生兼职", "兼职日结", "在家兼职"],
            ["刷单", "点赞关注", "淘宝补单", "APP下载注册", "看视频", "做任务"],
            ["日入{amt}", "一单一结", "佣金{pct}%", "当天返款", "稳定收入"],
            ["加v{wx}", "扣{qq}", "联系{name}", "需先垫付本金", "戳{url}"],
        ],
        "，",
    ),
    (
        [
            ["我是{name}", "在吗，我是你表哥", "领导我是小李", "我是你领导", "老同学在吗"],
            ["我换号了", "手机坏了用朋友的号", "现在不方便接电话", "在外地开会"],
            ["急需用钱周转一下", "帮我给这个账户转{amt}", "帮我先垫付{amt}元", "借我点钱明天还你"],
            ["别告诉别人", "转完截图给我", "很急", ""],
        ],
        "，",
    ),
    (
        [
            ["稳赚不赔", "内部渠道", "导师带单", "数字货币项目", "理财平台"],
            ["日收益{pct}%", "三个月回本", "年化300%", "本金随时可取", "零风险高回报"],
            ["名额有限", "进群{qq}", "加老师v{wx}", "下载APP {url}"],
        ],
        "，",
    ),
]


def _bank_cn(rng: random.Random) -> str:
    return rng.choice(
        ("中国银行", "工商银行", "建设银行", "农业银行", "招商银行", "交通银行", "邮储银行")
    )


SLOTS["bank_cn"] = _bank_cn
add_frames(FRAUD_ZH_FRAMES, ["fraud"], "zh", 72)

add_lines(
    """
兼职 job，日结 {amt}，只需要 like 视频，加 vx {wx}
Amazon 客服：你的 order 有问题，退款请下载 app {url}
USDT 搬砖 project，guaranteed 稳赚，带你 to the moon 🚀 加我 {wx}
hi 亲，我是你的 boss，急需你先帮我 transfer {amt} 给客户
code 发错到你手机了，pls 告诉我一下验证码，谢谢
""",
    ["fraud"],
    "mixed",
)

# fraud + spam: bulk-sent prize and loan scams
add_lines(
    """
WINNER!! You have been chosen to receive a £1000 prize. Text CLAIM to 87211 now. T&C apply
URGENT! Your mobile number has won a $5000 cash award. Call {phone_en} now to claim. Reply STOP to opt out
FREE iPhone for the first 100 people!! Just pay shipping at {url} share with friends!!
Get a $500 loan in 10 minutes! No credit check, no paperwork! Apply at {url}
【恭喜中奖】您的号码在周年庆活动中获得{amt}元大奖，请登录{url}领取，转发给好友还可多领
好消息！无抵押贷款，秒批秒到，最高{amt}，黑户白户均可，速联{phone}，回T退订
亲，您已获得1888元无门槛红包，限时领取 {url} 转发到3个群翻倍
低息贷款，月息0.3%，当天放款，加v {wx}，不看征信，欢迎转发
""",
    ["fraud", "spam"],
    "en",
)
FRAUD_SPAM_FRAMES_ZH = [
    (
        [
            ["【{bank_cn}】", "【平台通知】", "【福利】", "【活动】", ""],
            ["恭喜您获得{amt}元补贴", "您已获得免费领取资格", "您的号码被抽中", "低息贷款秒到账"],
            ["点击{url}领取", "请联系{phone}", "加客服微信{wx}"],
            ["转发3个群可翻倍", "回T退订", "数量有限先到先得", "速来"],
        ],
        "，",
    ),
]
add_frames(FRAUD_SPAM_FRAMES_ZH, ["fraud", "spam"], "zh", 20)
FRAUD_SPAM_FRAMES_EN = [
    (
        [
            ["FREE MSG:", "URGENT!", "Congratulations!", "Dear customer,", "WIN!"],
            [
                "you won a {prize}",
                "you are pre-approved for a loan of {amt_en}",
                "your number has been selected for a {prize}",
            ],
            ["claim now at {url}", "call {phone_en}", "text WIN to 80082"],
            [
                "Reply STOP to opt out",
                "T&C apply",
                "share with 5 friends to double it",
                "offer ends tonight",
            ],
        ],
        " ",
    ),
]
add_frames(FRAUD_SPAM_FRAMES_EN, ["fraud", "spam"], "en", 20)


# =============================================================================================
# SEXUAL
# =============================================================================================

add_lines(
    """
Hot girls in your area waiting for you tonight 😘 incall/outcall 24/7, text {phone_en}
Lonely tonight? Private nude cam shows, first 5 minutes free {url}
Full body massage with happy ending, discreet, call {phone_en}
Sugar daddy looking for a sugar baby, {amt_en} per week allowance, DM me
Escort service, beautiful models, hotel visits, {amt_en}/hour, whatsapp {phone_en}
Send me nudes and I'll send mine 😏
Want to see my private videos? Subscribe to my onlyfans {url}
Free XXX videos, no signup, hottest amateur porn {url}
I'm a hot single girl, bored at home, add my snap {handle} for naughty pics
Looking for a hookup tonight, no strings attached, DM me
Girls available for GFE, outcall to your hotel room, text for menu and prices
Hey sexy, wanna video chat naked? I'm online now 🔥
Leaked celebrity sex tapes, watch free here {url}
Adult dating for married people, discreet affairs {url}
Nude pics of girls from your city, join {handle}
Horny? Live sex chat with real women, 100% free registration {url}
I sell my used underwear and explicit photos, DM for prices
Come over tonight, I'll make it worth your while 😈 {amt_en} for the whole night
Massage parlour, Asian girls, extras available, open until 3am
Check out my spicy content, link in bio, free trial for 24h 🍑
""",
    ["sexual"],
    "en",
)

SEXUAL_EN_FRAMES = [
    (
        [
            ["Hot", "Sexy", "Naughty", "Horny", "Beautiful", "Young-looking adult"],
            ["girls", "ladies", "singles", "models", "MILFs", "escorts"],
            ["near you", "in your city", "online now", "waiting for you", "available tonight"],
            [
                "— text {phone_en}",
                "— incall and outcall",
                ", {amt_en}/hr",
                ", see pics at {url}",
                ", add {handle}",
                ", no strings attached",
            ],
        ],
        " ",
    ),
    (
        [
            [
                "Private show",
                "Nude video chat",
                "Erotic massage",
                "Girlfriend experience",
                "Adult cam",
                "Full service",
            ],
            ["tonight", "24/7", "at your hotel", "for VIP members", "with no limits"],
            ["👉 {url}", "call {phone_en}", "DM for menu", "{amt_en} special", "discreet service"],
        ],
        ", ",
    ),
]
add_frames(SEXUAL_EN_FRAMES, ["sexual"], "en", 48)

add_lines(
    """
同城约炮，真实可见面，加v{wx}
一对一裸聊，美女在线，先看后付
上门服务，全套，包夜{amt}，qq{qq}
寂寞吗？附近的美女等你来撩，点击{url}
会所新来了几个妹子，特殊服务，懂的来
午夜福利群，每天更新资源，进群{qq}
看片神器，海量成人视频免费看{url}
约吗？今晚有空，酒店你开
兼职妹妹，质量有保证，可上门，价格私聊
桑拿按摩，有大保健，环境私密
出售私密照片和视频，感兴趣的加我{wx}
成人直播，美女主播脱衣秀，下载app{url}
小哥哥要不要看我的私房照呀，加我{wx}发你
一夜情交友平台，注册即可约，同城秒配
花{amt}元就可以约到模特，全国空降
本地熟女，寂寞难耐，想找个人陪，加我{wx}
专业莞式服务，全套一条龙，预约{phone}
""",
    ["sexual"],
    "zh",
)

SEXUAL_ZH_FRAMES = [
    (
        [
            ["同城", "附近", "本地", "全国空降", "酒店", "深夜"],
            ["约炮", "上门服务", "裸聊", "一夜情", "包夜", "快餐", "特殊服务", "约会美女"],
            ["真实照片", "不满意不收费", "先服务后付款", "价格美丽", "妹子多", "学历高颜值高"],
            ["加v{wx}", "扣{qq}", "电话{phone}", "戳{url}", "私聊看照片", ""],
        ],
        "，",
    ),
    (
        [
            ["福利视频", "成人资源", "私房照", "激情视频", "无码资源"],
            ["免费看", "每日更新", "高清无码", "尺度很大"],
            ["{url}", "进群{qq}", "加我{wx}", "回复1获取"],
        ],
        "，",
    ),
]
add_frames(SEXUAL_ZH_FRAMES, ["sexual"], "zh", 44)

add_lines(
    """
yue 吗？今晚有空，+v {wx}
裸聊 video call，美女在线，free 试看 {url}
约p 同城，真实可见，qq {qq}
sm 调教，私聊看照片，wx {wx}
hot girls 上门服务，全套 {amt} 包夜
""",
    ["sexual"],
    "mixed",
)

# sexual + spam: escort ads blasted into groups
add_lines(
    """
【同城交友】寂寞美女在线等你，点击{url}立即约会，转发给兄弟一起
打扰各位群友，会所新到一批妹子，全套服务，有意加v{wx}，量大优惠
各位老板晚上好，空降服务全国可约，{amt}一次，联系{phone}
""",
    ["sexual", "spam"],
    "zh",
)
add_lines(
    """
Hi group 😘 hot girls available in every city, outcall only, text {phone_en} for pics
Sorry to spam! Check out the hottest adult cams, free tokens for new members {url}
🔞🔞 Meet horny singles tonight, join free at {url} — share with your friends
""",
    ["sexual", "spam"],
    "en",
)
add_frames(
    [
        (
            [
                ["【福利】", "打扰了", "群友们", "老铁们"],
                ["同城美女约会", "特殊按摩服务", "裸聊一对一", "成人视频资源"],
                ["加v{wx}", "点{url}", "扣{qq}"],
                ["转发有奖", "先到先得", "今晚有空"],
            ],
            "，",
        )
    ],
    ["sexual", "spam"],
    "zh",
    16,
)
add_frames(
    [
        (
            [
                ["Hey group!", "Sorry to post here,", "🔥", "Attention gentlemen:"],
                ["sexy girls for outcall", "adult cam girls online", "erotic massage with extras"],
                ["{url}", "text {phone_en}", "DM {handle}"],
                ["share with friends", "limited slots tonight", ""],
            ],
            " ",
        )
    ],
    ["sexual", "spam"],
    "en",
    12,
)

# sexual + fraud: sextortion and fake escort deposits
add_lines(
    """
我已经录下了你裸聊的视频，不给我转{amt}就发给你通讯录里的所有人
I recorded you on webcam. Pay $500 in bitcoin within 48 hours or I send the video to all your contacts
先交{amt}定金，妹子马上上门，不交不安排
To confirm the booking you must buy a $200 gift card as a deposit, then the girl comes to your hotel
你裸聊的截图在我手上，想私了就转账，不然发到你们公司群
""",
    ["sexual", "fraud"],
    "mixed",
)


# =============================================================================================
# GAMBLING
# =============================================================================================

add_lines(
    """
Best online casino 2024! 200% welcome bonus on your first deposit, play slots and live baccarat {url}
Sure-win football betting tips, 95% accuracy, join our VIP group {handle}
Deposit $100 get $300 to play. Instant withdrawals, no KYC! {url}
Fixed matches available this weekend, 100% guaranteed, pay after you win
Play roulette and blackjack with real dealers 24/7, sign up bonus {amt_en}
Bet on the Premier League with the best odds online, crypto accepted {url}
Our lottery prediction software picks the winning numbers, buy the system for {amt_en}
Free spins every day! Register at {url} and spin to win real cash
Join my betting group, last week we won 12 out of 14 bets 💰 {handle}
Online slots jackpot just hit $250,000!! Your turn: {url}
Looking for agents for our online casino, 40% commission on player losses
Baccarat strategy group, follow our signals and win every day, telegram {handle}
Cricket betting IDs available, instant deposit and withdrawal, WhatsApp {phone_en}
Hit me up if you want in on the underground poker game, {amt_en} buy in
Crypto casino with 10,000 games, no verification, {pct}% cashback weekly {url}
""",
    ["gambling"],
    "en",
)

GAMBLING_EN_FRAMES = [
    (
        [
            ["🎰", "💰", "Play now!", "New players:", "VIP offer:", "Tonight only:"],
            [
                "online casino",
                "live baccarat",
                "sports betting",
                "slots",
                "poker rooms",
                "crash game",
                "roulette",
            ],
            [
                "with {pct}% deposit bonus",
                "with free spins",
                "— fast payouts",
                "— sure win tips",
                "— odds boost on every match",
                "— no KYC needed",
            ],
            [
                "{url}",
                "join {handle}",
                "WhatsApp {phone_en}",
                "sign up at {url}",
                "use code WIN{n}",
            ],
        ],
        " ",
    ),
    (
        [
            ["Guaranteed", "Sure", "Insider", "Fixed", "VIP"],
            [
                "football tips",
                "match results",
                "lottery numbers",
                "betting signals",
                "horse racing picks",
            ],
            ["every day", "for this weekend", "with 90% win rate", "— pay after you win"],
            ["DM {handle}", "text {phone_en}", "join {url}"],
        ],
        " ",
    ),
]
add_frames(GAMBLING_EN_FRAMES, ["gambling"], "en", 52)

add_lines(
    """
菠菜平台，首充送{pct}%，上分下分秒到账，加v{wx}
百家乐真人荷官在线发牌，大额无忧，{url}
时时彩稳赚计划，跟着导师下注，一天翻倍
北京赛车pk10，精准计划，每期必中，q群{qq}
澳门葡京线上娱乐，注册就送{amt}元彩金
招网赌代理，高额返水，日结佣金，联系{phone}
六合彩内部资料，特码必中，先中后付
棋牌室上分下分，牛牛炸金花，安全稳定，加v{wx}
世界杯竞猜平台，赔率最高，{url}
老哥们今晚欧冠买哪边？我在菠菜网站下了{amt}
体育投注，足球篮球电竞全都有，首存返水{pct}%
带你上岸，跟单稳赚，回本了再给我分成
网上赌场，老虎机、轮盘、骰宝，24小时提款
快三大小单双，跟我的计划包你稳赢
斗地主真钱版，一局{amt}，微信上分
彩票计划群，每天五期，错一期赔双倍，进群{qq}
今天欧洲杯让球盘，内部消息，稳胆推荐
电竞菠菜，LOL和王者比赛都能下注，充值送彩金
""",
    ["gambling"],
    "zh",
)

GAMBLING_ZH_FRAMES = [
    (
        [
            ["【娱乐城】", "【体育】", "菠菜", "线上赌场", "真人视讯", "棋牌平台", "彩票平台"],
            [
                "百家乐",
                "龙虎斗",
                "牛牛",
                "时时彩",
                "幸运飞艇",
                "足球投注",
                "老虎机",
                "炸金花",
                "快三",
                "六合彩",
            ],
            [
                "首充送{pct}%",
                "上分下分秒到",
                "返水{pct}%",
                "大额无忧",
                "包赢计划",
                "存{amt}送{amt}",
                "导师带单",
            ],
            ["加v{wx}", "{url}", "扣{qq}", "联系{phone}", "注册就送彩金", ""],
        ],
        "，",
    ),
    (
        [
            ["稳赚", "包中", "精准", "内部"],
            ["计划", "特码", "单双", "大小"],
            ["每期必中", "跟我下注", "一天翻倍", "先中后付"],
            ["进群{qq}", "加{wx}", "看{url}"],
        ],
        "",
    ),
]
add_frames(GAMBLING_ZH_FRAMES, ["gambling"], "zh", 56)

add_lines(
    """
bocai 平台推荐，上分快，vx {wx}
菠菜 app 下载 {url}，new member 送 {amt}
baccarat 百家乐 live，win rate 超高，加我 {wx}
sg 飞艇 计划 群，qq {qq}
今晚 NBA 让分盘 all in 了，bet 平台 {url}
""",
    ["gambling"],
    "mixed",
)

# gambling + spam: casino ads posted into groups
add_lines(
    """
各位群友打扰了！新开娱乐城，注册送{amt}彩金，首充翻倍，{url} 转发给朋友再送
【活动】体育投注新用户专享，天天返水，加入我们：{url}，回T退订
Hey group 👋 new online casino just launched, $50 free chip for everyone in this group {url}
Sorry for the spam guys but this betting site gives 300% bonus, link: {url}
""",
    ["gambling", "spam"],
    "mixed",
)
add_frames(
    [
        (
            [
                ["打扰各位", "【福利】", "群友们", "推荐一个"],
                ["线上娱乐城", "棋牌游戏", "体育投注", "彩票平台"],
                ["注册送{amt}", "首充送{pct}%", "天天返水"],
                ["{url}", "加v{wx}", "q群{qq}"],
                ["转发有奖", "拉人有提成", ""],
            ],
            "，",
        )
    ],
    ["gambling", "spam"],
    "zh",
    16,
)
add_frames(
    [
        (
            [
                ["Hi all!", "Promo:", "🎰🎰", "Attention group:"],
                ["new casino site", "betting app", "slots platform"],
                ["free {amt_en} chip", "{pct}% welcome bonus", "free spins"],
                ["{url}", "join {handle}"],
                ["invite friends for more", "limited time", ""],
            ],
            " ",
        )
    ],
    ["gambling", "spam"],
    "en",
    12,
)

# gambling + fraud: rigged "insider" plans that take deposits and vanish
add_lines(
    """
导师带单百家乐，稳赚不赔，先交{amt}入会费，输了全额退款
我们有平台后台漏洞，跟着下注百分百赢，利润五五分
Our team knows the fixed match results. Pay {amt_en} for the ticket, refund if you lose
Lottery insider: I can rig the draw numbers for you. Send {amt_en} to reserve your winning ticket
""",
    ["gambling", "fraud"],
    "mixed",
)
add_frames(
    [
        (
            [
                ["内部渠道", "后台控制", "平台漏洞", "导师计划"],
                ["时时彩", "幸运飞艇", "百家乐", "六合彩"],
                ["包赢", "稳赚不亏", "百分百中"],
                ["先交会费{amt}", "充值{amt}开通", "赢了再分成，需先交保证金"],
            ],
            "，",
        )
    ],
    ["gambling", "fraud"],
    "zh",
    12,
)


# =============================================================================================
# EXTREMISM
# =============================================================================================

add_lines(
    """
The time for words is over, brothers. Take up arms and join the fighters, the caliphate needs you
The martyr who attacked the concert died a hero. May many more follow his path
Our holy war will not stop until every unbeliever is driven out. Join us {handle}
Those who blew up the station are true warriors, they did what the cowards would not
We are recruiting young men ready to sacrifice themselves for the cause. Contact us privately
Violence is the only language the government understands. Start the uprising now
The race war is coming. Arm yourselves and be ready to fight for our people
Glory to the heroes of the attack! The next one will be even bigger
Join the brigade and die with honour. Paradise awaits the martyrs
Watch the execution video, this is what happens to traitors of the faith {url}
Read the manifesto and act on it. Accelerate the collapse by any means necessary
Every soldier of the movement must be ready to strike when the order comes
The shooter was a saint. Share his words so others will follow
Our fighters need funds, donate in bitcoin to support the jihad
Pledge allegiance to the leader and prepare for the day of reckoning
We must cleanse our land by force. Sign up for training camps in the mountains
The bombing was just the beginning, we will bring the war to their streets
Support the armed struggle, send recruits to our channel {handle}
Burn down their temples and show them we are not afraid
Any brother who can travel should come to the front. We will arrange everything
""",
    ["extremism"],
    "en",
)

EXTREMISM_EN_FRAMES = [
    (
        [
            [
                "Brothers,",
                "Warriors,",
                "Soldiers of the faith,",
                "Patriots,",
                "Comrades,",
                "Listen:",
            ],
            [
                "take up arms",
                "join the holy war",
                "the day of the attack is near",
                "the martyrs showed us the way",
                "we must answer with bombs",
                "glory to those who struck the city",
                "prepare for the armed uprising",
                "our fighters need new recruits",
            ],
            [
                "— the infidels must fall",
                "and strike without mercy",
                "and leave this world as heroes",
                "— paradise awaits",
                "and bring the fight to their streets",
                "— no more talk",
            ],
            [
                "join {handle}",
                "contact us privately",
                "",
                "spread this message",
                "the training camp is waiting",
            ],
        ],
        " ",
    ),
    (
        [
            ["The attack on the", "The bombing of the", "The massacre at the", "The strike on the"],
            ["market", "embassy", "church", "mosque", "station", "parliament"],
            ["was a glorious victory", "was only the beginning", "was justice", "will be repeated"],
            [
                "— honour the martyrs",
                ". Who is next to join?",
                ". We need more heroes like him",
                ". Share before it gets deleted",
            ],
        ],
        " ",
    ),
]
add_frames(EXTREMISM_EN_FRAMES, ["extremism"], "en", 56)

add_lines(
    """
兄弟们，拿起武器，加入圣战，真主会奖赏殉道者
那次袭击的勇士是英雄，我们要继承他的意志
招募愿意为信仰献身的年轻人，私聊了解训练营
只有暴力才能让他们听见我们的声音，起来反抗
炸掉他们的车站，让他们知道我们的厉害
殉道者将进入天堂，加入我们的战斗吧
这是我们组织的宣传视频，转发让更多兄弟看到{url}
异教徒必须被清除，用鲜血洗刷屈辱
战斗的日子就要到了，所有的战士做好准备
支持武装斗争，捐款给前线的兄弟们
向发动袭击的烈士致敬，下一次要更大
我们要建立自己的国度，不惜一切代价
宣誓效忠，等待命令，随时准备行动
那些恐袭者做了我们不敢做的事，值得学习
山里的训练营正在招人，包吃住，为信仰而战
""",
    ["extremism"],
    "zh",
)

EXTREMISM_ZH_FRAMES = [
    (
        [
            ["兄弟们", "战士们", "同胞们", "信仰者们", "各位勇士"],
            [
                "拿起武器",
                "加入圣战",
                "袭击的日子快到了",
                "殉道者为我们指明了道路",
                "用炸弹回应他们",
                "向袭击者致敬",
                "准备武装起义",
                "前线需要新的战士",
            ],
            [
                "让异教徒付出代价",
                "绝不手软",
                "天堂在等待我们",
                "把战火烧到他们的城市",
                "不要再空谈了",
                "用血来偿还",
            ],
            ["联系{wx}", "私聊加入", "转发扩散", "训练营等着你", ""],
        ],
        "，",
    ),
    (
        [
            ["对", "那次在", "发生在"],
            ["市场", "车站", "教堂", "清真寺", "广场", "学校"],
            ["的袭击是伟大的胜利", "的爆炸只是开始", "的行动是正义的", "的屠杀还会继续"],
            ["向烈士致敬", "谁愿意成为下一个英雄", "趁没删赶紧转", ""],
        ],
        "",
    ),
]
add_frames(EXTREMISM_ZH_FRAMES, ["extremism"], "zh", 52)

add_lines(
    """
jihad 圣战 才是唯一的出路，brothers 加入我们 {handle}
那个 shooter 是真正的 hero，大家转发他的 manifesto
""",
    ["extremism"],
    "mixed",
)

# extremism + hate: calls to violence against a group
add_lines(
    """
Kill every last one of the immigrants, they are invaders and deserve no mercy
The only good infidel is a dead infidel, time to cleanse our country
We need a final solution for these parasites, take up arms against them
Gas them all, those vermin don't deserve to live in our land
把这些异族全都杀光，一个不留，这是我们的土地
异教徒都是猪狗，圣战就是要把他们赶尽杀绝
这群外地人都该被清洗，拿起刀来保卫我们的家园
""",
    ["extremism", "hate"],
    "mixed",
)
add_frames(
    [
        (
            [
                ["All", "Every one of the", "These"],
                ["immigrants", "foreigners", "infidels", "refugees", "unbelievers"],
                ["are vermin", "are a disease", "are subhuman", "are invaders"],
                [
                    "and must be wiped out",
                    "— burn them out of our cities",
                    "and we will purge them by force",
                    "— arm yourselves, the purge starts now",
                ],
            ],
            " ",
        )
    ],
    ["extremism", "hate"],
    "en",
    16,
)
add_frames(
    [
        (
            [
                ["这些", "所有的", "那群"],
                ["外族人", "异教徒", "外地佬", "难民"],
                ["都是畜生", "是社会的毒瘤", "不配做人", "是侵略者"],
                ["必须用武力清除", "拿起武器把他们赶尽杀绝", "见一个杀一个", "烧光他们的房子"],
            ],
            "",
        )
    ],
    ["extremism", "hate"],
    "zh",
    16,
)


# =============================================================================================
# HATE
# =============================================================================================

add_lines(
    """
You're worthless, nobody would miss you if you killed yourself
I know where you live. Watch your back when you walk home tonight
Go back to your own country, nobody wants you here
Shut up you ugly fat pig, no wonder nobody loves you
People like you should be locked up and never let out, disgusting freak
Women are too stupid to have opinions, get back in the kitchen
Immigrants are rats ruining everything, they should all be deported
Gay people are sick perverts and shouldn't be allowed near kids
You retard, can't you read? Go die in a hole
I'll beat the shit out of you next time I see you, that's a promise
Fat, ugly and stupid, the holy trinity. Kill yourself already
Disabled people are a burden on society, they should not get benefits
All of you from that village are thieves and liars, every single one
Muslims are terrorists, ban them all
Jews control everything, they are the enemy of the people
Old people should just die and stop wasting our money
Nobody asked for your opinion you dumb bitch
I'm going to find your family and make them pay
You people are subhuman trash
Look at this clown, so ugly he should be put down like a dog
Poor people are poor because they're lazy animals
Your whole race is a mistake
I hope you get cancer and die slowly
If you post one more time I will hunt you down
""",
    ["hate"],
    "en",
)

HATE_EN_FRAMES = [
    (
        [
            ["You're", "You are", "Honestly you're", "lol you're", "Everyone knows you're"],
            ["a worthless", "a disgusting", "a pathetic", "an ugly", "a brainless", "a useless"],
            ["piece of trash", "loser", "freak", "waste of oxygen", "parasite", "subhuman"],
            [
                "— just die already",
                ", kill yourself",
                ", nobody wants you alive",
                ", I'll make your life hell",
                ". Watch your back",
                ", go crawl back under your rock",
            ],
        ],
        " ",
    ),
    (
        [
            ["All", "Those", "These fucking", "Typical"],
            [
                "immigrants",
                "women",
                "gays",
                "foreigners",
                "fat people",
                "disabled people",
                "refugees",
                "trans people",
                "Asians",
                "Muslims",
            ],
            [
                "are disgusting",
                "are animals",
                "are parasites",
                "are ruining this country",
                "should be banned",
                "don't deserve rights",
                "are a plague",
            ],
            ["", ", get them out", ", I hate every one of them", ", send them all back"],
        ],
        " ",
    ),
    (
        [
            [
                "I know where you live",
                "I'm coming for you",
                "We found your address",
                "Next time I see you",
            ],
            [
                "and you'd better be scared",
                "and I'll break your legs",
                "and you will regret this",
                "and your family too",
            ],
            ["", "😡", "— count your days", "bitch"],
        ],
        ", ",
    ),
]
add_frames(HATE_EN_FRAMES, ["hate"], "en", 60)

add_lines(
    """
你个傻逼，赶紧去死吧
滚回你老家去，这里不欢迎你
河南人都是骗子，离他们远点
你全家死光光，垃圾东西
小心点，我知道你住哪，放学别走
废物一个，活着就是浪费空气
长得这么丑还好意思发自拍，恶心死了
女人就该在家带孩子，出来上班的都是贱货
死基佬，别让我在街上看见你
残疾人就是社会的累赘
你这种人就该被人打死
东北人没一个好东西
穷鬼就是懒，活该穷一辈子
再敢在群里说话，我找人弄死你
你妈死了吗，说话这么难听
黑鬼滚出中国
乡巴佬也配跟我说话？
打残你信不信，别以为我不敢
肥猪，减肥去吧，看着就想吐
老不死的，赶紧死了算了
你就是个脑残，智商低得可怜
一群蝗虫，来了就抢我们的东西
""",
    ["hate"],
    "zh",
)

HATE_ZH_FRAMES = [
    (
        [
            ["你个", "你就是个", "真是个", "这种", "一看就是个"],
            ["傻逼", "废物", "脑残", "垃圾", "贱人", "人渣", "蠢猪", "杂种"],
            [
                "赶紧去死",
                "活着浪费空气",
                "全家死光",
                "滚出这个群",
                "我迟早弄死你",
                "出门被车撞死",
                "恶心死了",
            ],
        ],
        "，",
    ),
    (
        [
            ["", "所有的", "这些", "那帮"],
            [
                "河南人",
                "东北人",
                "外地人",
                "女司机",
                "同性恋",
                "黑人",
                "穷人",
                "农村人",
                "残疾人",
                "胖子",
                "老头老太",
            ],
            [
                "都是骗子",
                "都该死",
                "都是垃圾",
                "没一个好东西",
                "就是社会的毒瘤",
                "都该滚出去",
                "素质低下",
                "真让人恶心",
            ],
        ],
        "",
    ),
    (
        [
            ["我知道你住哪", "等着瞧", "你给我小心点", "有种别跑"],
            ["明天就去找你", "打断你的腿", "让你全家不得安宁", "找人收拾你"],
            ["", "！", "，说到做到"],
        ],
        "，",
    ),
]
add_frames(HATE_ZH_FRAMES, ["hate"], "zh", 60)

add_lines(
    """
sb 一个，赶紧 gun 吧
nmsl，你这种 loser 也配说话
你就是个 retard，滚出去
tmd 垃圾，I will find you
cnm，全家死光 bitch
""",
    ["hate"],
    "mixed",
)


# =============================================================================================
# CLEAN: everyday chat
# =============================================================================================

CLEAN_EN = """
ok
okay 👍
lol
haha yes
thanks!
thank you so much 🙏
see you tomorrow
on my way
running 10 min late sorry
what time is dinner?
did you get home ok?
Happy birthday!! 🎂🎉
love you mom ❤️
can you pick up milk on the way home
the meeting moved to 3pm
I'll send the slides after lunch
who's coming to the game on Saturday?
I'm at the gate, where are you
that movie was amazing, we should watch the sequel
does anyone have the notes from today's lecture?
my flight lands at 6:40, can someone pick me up?
the baby finally slept through the night 😭
good morning everyone ☀️
gn 😴
brb
np
ikr
omg same
nice one!
congrats on the new job!!
the wifi password is on the fridge
let's meet at the coffee shop near the station
I made too much pasta, anyone hungry?
the kids have a day off on Friday
don't forget to water the plants while I'm away
Can we reschedule our 1:1 to Thursday?
Here's the agenda for tomorrow's standup
PR is ready for review, mostly small fixes
The build is green again, thanks for fixing the test
Who's up for hotpot tonight?
how was the trip to Japan?
the hike was brutal but the view was worth it
my team lost again, I'm done with football
GG that was a close game
anyone want to play Minecraft tonight?
I just beat the final boss!!! took me 3 hours
Practice is cancelled because of the rain
Reminder: parent-teacher meeting on Tuesday at 6
Grandma says thank you for the flowers
we're out of coffee again
can you send me the recipe for that soup?
my cat knocked my phone off the table lol
it's freezing outside, bring a jacket
Just landed in Singapore 🛬
the bus is packed today
Do you want the window seat or the aisle?
how much was the rent again?
I'll transfer my share of the dinner tonight
split the bill? I'll pay you back tomorrow
got the tickets! row 12
our landlord is fixing the heater on Monday
let me check my calendar and get back to you
Sounds good to me
Not sure, ask Dad
Can't talk now, in a meeting
Call me when you're free
I think I left my charger at your place
The dentist said I need a filling 😩
Study group at the library at 7?
I passed the exam!!!
Final exam schedule just came out
the professor extended the deadline to Monday
Which chapter are we reading this week?
Shopping list: eggs, rice, tomatoes, dish soap
my order still hasn't arrived, so annoying
this restaurant has the best dumplings in town
Saturday brunch at 11?
send me the photos from the wedding pls
that sunset though 😍
I'm so tired, going to bed early tonight
feel better soon!
the doctor said it's just a cold
we're having a BBQ on Sunday, bring your family
Anyone know a good plumber?
Lost a set of keys near the park, blue keychain, let me know if you find them
Group photo is up in the album
Welcome to the group, Sarah! 👋
Please mute the group if the notifications are annoying
Can everyone fill in the RSVP by Friday?
Carpool to the match: I have 3 seats
"""

CLEAN_ZH = """
好的
嗯嗯
收到
哈哈哈
哈哈哈哈哈哈
ok
好滴
谢谢
谢谢老板
辛苦了
晚安
早上好
在吗
在的
马上到
我到楼下了
晚上吃什么？
今晚吃火锅吧
妈，我到家了
明天几点开会？
会议改到下午三点了
PPT我午饭后发给你
周六谁去打球？
这部电影太好看了，推荐！
有人有今天的课堂笔记吗？
我的航班六点四十落地，谁能来接一下
宝宝终于睡整觉了😭
大家早上好☀️
生日快乐🎂
恭喜恭喜！
下班了吗
路上堵车，晚点到
钥匙放在门口地垫下面了
冰箱里有饺子，饿了自己煮
记得给花浇水
周五孩子不上学
下周一交报告，大家抓紧
这个bug我来修
测试环境又挂了
需求文档我更新了，大家看一下
周末去爬山吗？
风景太美了，下次一起去
今天又输了，这队没救了
开黑吗？今晚八点
终于通关了！
雨太大了，训练取消
家长会周二晚上六点
奶奶说谢谢你送的花
家里咖啡没了
那个汤的做法发我一下
我的猫把手机推到地上了哈哈
外面好冷，多穿点
刚落地新加坡🛬
今天地铁好挤
靠窗还是靠过道？
房租多少来着？
晚饭的钱我一会儿转你
AA吧，我明天还你
票抢到了！第12排
房东说周一来修暖气
我看下日程再回你
可以呀
问问你爸
在开会，晚点说
有空给我回个电话
充电器好像落你家了
牙医说要补牙😩
晚上七点图书馆自习？
考试过了！！！
期末考试安排出来了
老师把截止日期延到周一了
这周读第几章？
购物清单：鸡蛋、大米、西红柿、洗洁精
这家店的小笼包是全城最好吃的
周六十一点吃早午饭？
婚礼的照片发我一下呗
今天的晚霞绝了😍
好累，今晚早点睡
早日康复！
医生说就是普通感冒
周日在我家烧烤，带上家人一起来
有人认识靠谱的水管工吗？
在公园附近丢了一串钥匙，蓝色钥匙扣，捡到的麻烦说一声
合照已经上传到相册了
欢迎新朋友进群👏
群消息太多的可以设置免打扰
周五前大家接龙报名一下
1. 张伟 2人
去球场的拼车，我车上还有3个位置
卧槽这游戏也太难了
妈的又要加班
笑死我了哈哈哈哈
你是猪吗哈哈，钥匙又忘带了
绝了绝了
yyds
666
太牛了
蚌埠住了
破防了
这也太香了吧
我真的会谢
无语子
今天摸鱼了一整天
干饭干饭！
冲冲冲
下次一定
"""

add_lines(CLEAN_EN, [], "en")
add_lines(CLEAN_ZH, [], "zh")

add_lines(
    """
ok 我到了
明天的 meeting 改到 10 点
这个 PR 我 review 一下
周末 brunch 吗？
哈哈 lol 太好笑了
thx 收到
我在 gate 23 等你
今晚 KTV 吗？
下周 deadline 别忘了
发个 link 给我
周五 team building 去哪儿
我 plan 是先去上海再去杭州
这个 app 挺好用的
今天 WFH
我 order 的外卖还没到
""",
    [],
    "mixed",
)

# everyday chat composed from interchangeable parts, so clean rows vary as much as abuse rows
CLEAN_EN_FRAMES = [
    (
        [
            ["Hey {name_en},", "Hi,", "Babe,", "Mom,", "Dude,", ""],
            [
                "I'm heading to the supermarket",
                "just got off work",
                "almost home",
                "stuck in a queue",
                "just out of the meeting",
                "on the train now",
                "leaving the gym",
                "at the pharmacy",
            ],
            [
                ", need anything?",
                ", give me 10 min",
                ", talk later",
                ", have you eaten?",
                ".",
                ", wanna grab food?",
            ],
        ],
        " ",
    ),
    (
        [
            [
                "Are we still on for",
                "Don't forget",
                "Can't make it to",
                "Who's going to",
                "Looking forward to",
                "Running late for",
            ],
            [
                "dinner",
                "the movie",
                "yoga",
                "the dentist",
                "Jake's party",
                "practice",
                "the team lunch",
                "book club",
                "the school play",
                "the football match",
            ],
            ["tonight", "on Friday", "tomorrow morning", "this weekend", "at 7", "next week"],
            ["?", "!", " 😊", ", let me know", "", " sorry!!"],
        ],
        " ",
    ),
    (
        [
            ["Could you", "Please", "Can someone", "I'll", "Reminder to"],
            [
                "update the spreadsheet",
                "review my draft",
                "book the meeting room",
                "send the invoice to the client",
                "check the server logs",
                "print the contracts",
                "call the supplier back",
                "order more printer paper",
                "merge the release branch",
            ],
            [
                "before noon",
                "by Friday",
                "today",
                "when you get a chance",
                "after the standup",
                "asap",
            ],
            ["", "thanks!", "🙏", "cheers"],
        ],
        " ",
    ),
    (
        [
            ["The", "This", "That new"],
            [
                "ramen place",
                "bakery",
                "Thai restaurant",
                "coffee shop",
                "noodle stall",
                "dim sum place",
                "burger joint",
                "ice cream shop",
            ],
            ["on Main Street", "near the office", "by the river", "downstairs", "next to the gym"],
            [
                "is so good",
                "was closed today",
                "has a crazy long queue",
                "is worth the hype",
                "was a bit overpriced",
                "does half price on Tuesdays",
            ],
        ],
        " ",
    ),
    (
        [
            ["haha", "lol", "omg", "wow", "aww", "lmao"],
            [
                "that's hilarious",
                "so cute",
                "no way",
                "I can't believe it",
                "same here",
                "that's awesome",
                "love it",
                "that's so true",
            ],
            ["", "😂", "😍", "!!", "👍", "🤣"],
        ],
        " ",
    ),
]
CLEAN_ZH_FRAMES = [
    (
        [
            ["{name}", "宝贝", "老公", "老婆", "妈", "兄弟", "亲爱的", ""],
            [
                "我去超市了",
                "我下班了",
                "快到家了",
                "在排队",
                "刚开完会",
                "在地铁上",
                "在健身房",
                "在药店",
            ],
            ["，要带什么吗？", "，等我一下", "，晚点聊", "，你吃了吗", "。", "，一起吃饭吗"],
        ],
        "",
    ),
    (
        [
            ["今晚", "明天", "周末", "周五下班后", "下周", "元旦"],
            [
                "一起吃饭",
                "去看电影",
                "打羽毛球",
                "去逛街",
                "去健身房",
                "聚个餐",
                "去唱K",
                "去看展",
                "回爸妈家",
            ],
            ["吗？", "怎么样？", "，谁去？", "，我订位", "，老地方见", "，别迟到"],
        ],
        "",
    ),
    (
        [
            ["麻烦", "请", "帮我", "我来", "记得"],
            [
                "更新一下表格",
                "看一下这份方案",
                "订一下会议室",
                "把发票发给客户",
                "查一下日志",
                "打印合同",
                "回个电话给供应商",
                "合一下发布分支",
                "整理一下会议纪要",
            ],
            ["，中午前", "，周五前", "，今天之内", "，不着急", "，谢谢", "，辛苦啦"],
        ],
        "",
    ),
    (
        [
            ["楼下那家", "新开的", "公司附近的", "学校门口的", "地铁站旁边的"],
            ["拉面", "奶茶店", "烤肉", "麻辣烫", "面包店", "火锅", "煎饼摊", "咖啡馆"],
            ["太好吃了", "排队好长", "今天关门了", "有点贵", "值得一试", "分量好足", "周二半价"],
        ],
        "",
    ),
    (
        [
            ["哈哈", "笑死", "天哪", "哇", "啊啊啊", "哈哈哈哈"],
            ["太可爱了", "真的假的", "我也是", "太厉害了", "好羡慕", "说得太对了", "绝了"],
            ["", "😂", "👍", "！", "~", "🤣"],
        ],
        "",
    ),
]
for frame in CLEAN_EN_FRAMES:
    add_frames([frame], [], "en", 45)
for frame in CLEAN_ZH_FRAMES:
    add_frames([frame], [], "zh", 45)

# long clean posts (moments, articles)
add_lines(
    """
Finally finished our two-week road trip along the coast! We drove 2,300 km, camped in four national parks, got caught in a storm on day six and had to sleep in the car, and ate way too many fish tacos. The kids loved the tide pools more than anything else. Huge thanks to my sister for lending us the camping gear. Photos coming soon, and if anyone wants the route just ask 😊
Quick update for the parents' group: the school trip to the science museum is confirmed for the 14th. Buses leave at 8:15 sharp from the main gate and come back around 3:30. Please pack a lunch and a water bottle, and make sure the permission slip is signed and returned to the class teacher by Wednesday. If your child has allergies, please message me privately so I can let the museum café know.
Team, thanks for all the hard work this quarter. We shipped the new checkout flow, cut page load time by 40% and closed more than 200 support tickets. Next quarter we'll focus on reliability: fewer on-call pages, better dashboards and a proper incident review process. Drinks on me on Friday at 6 at the usual place. Partners welcome!
Made my grandmother's braised pork recipe today for the first time. The secret, according to her, is to caramelise the sugar slowly and never rush the last hour. It took three tries and the kitchen is a disaster but it tasted exactly like I remember from childhood. Called her on video to show her and she said it was "not bad", which from her is the highest compliment.
This year I read 32 books, ran my first half marathon, changed jobs and moved to a new city. It was not easy and there were weeks when I wanted to give up on all of it, but I'm grateful for friends who kept checking in. Next year: learn to swim properly, cook more, scroll less. Happy new year everyone!
今天带爸妈去了趟西湖，天气特别好，断桥上人山人海，我们就沿着苏堤慢慢走。中午在楼外楼吃了西湖醋鱼和东坡肉，老爸说比二十年前来的时候还好吃。下午坐船去了三潭印月，妈妈拍了好多照片。虽然累，但看到他们开心，一切都值了。下次打算带他们去黄山。
各位家长好，下周三（15号）学校组织去科技馆参观，早上8点15分在学校正门集合上车，下午3点半左右返回。请给孩子准备好午饭和水，回执请在周三前签字交给班主任。孩子如有过敏情况，请私信我，我会提前告知场馆。谢谢大家配合！
这个季度大家辛苦了！新版支付流程顺利上线，页面加载时间降低了40%，处理了两百多个工单。下个季度我们重点做稳定性：减少夜间告警、完善监控大盘、建立故障复盘机制。周五晚上六点老地方聚餐，我请客，欢迎带家属！
第一次尝试做外婆的红烧肉，按她的说法，糖要小火慢慢炒，最后一个小时千万不能急。失败了两次，厨房一片狼藉，但第三次终于做出了小时候的味道。视频给外婆看，她说"还行"，这在她那里已经是最高评价了。
今年读了32本书，跑完了人生第一个半马，换了工作，也搬到了新的城市。中间有好几次想放弃，感谢一直关心我的朋友们。明年的目标：学会游泳，多做饭，少刷手机。大家新年快乐！
周末和朋友去露营，晚上看到了银河，真的太震撼了。早上五点爬起来看日出，冻得发抖但是值得。推荐大家有机会一定要去一次，记得带厚衣服和防潮垫，山上温差特别大。
""",
    [],
    "en",
)


# =============================================================================================
# CLEAN: hard negatives that share vocabulary with abuse
# =============================================================================================

HARD_NEG_FRAMES_ZH = [
    # genuine bank notices
    (
        [
            [
                "【{bank_cn}】您尾号{l4}的储蓄卡{time}消费{money}元，余额{money}元。",
                "【{bank_cn}】您尾号{l4}的账户{time}工资收入{money}元，活期余额{money}元。",
                "【{bank_cn}】您尾号{l4}的信用卡本期账单{money}元，到期还款日{time}，请按时还款。",
                "【{bank_cn}】您尾号{l4}卡{time}转入{money}元，对方户名：{name}。",
                "【{bank_cn}】您尾号{l4}的信用卡{time}在美团支付{money}元。如非本人操作请致电官方客服。",
                "【{bank_cn}】您的账户于{time}完成自动还款{money}元，感谢使用。",
            ]
        ],
        "",
    ),
    # courier notices
    (
        [
            [
                "【菜鸟驿站】您的包裹已到{station}，取件码{pickup}，请于{time}前领取。",
                "【顺丰速运】您的快件{track}已由快递员派送，如有疑问请联系快递员。",
                "【京东物流】您的订单{order}已签收，感谢您的耐心等待。",
                "【中通快递】您的快件已放至{station}，凭取件码{pickup}取件。",
                "【邮政EMS】您的邮件{track}正在派送中，快递员电话{phone}。",
                "【丰巢】您的快递已存入{station}快递柜，取件码{code}。",
            ]
        ],
        "",
    ),
    # service verification codes
    (
        [
            [
                "【美团】验证码{code}，5分钟内有效，请勿泄露给他人。",
                "【微信】验证码：{code}，用于登录验证，请勿转发。",
                "【支付宝】校验码{code}，您正在进行身份验证，切勿告诉任何人。",
                "【12306】您的验证码是{code}，如非本人操作请忽略本短信。",
                "【抖音】验证码{code}，用于手机号登录，10分钟内有效，工作人员不会向你索取。",
                "【淘宝】验证码{code}，您正在修改密码，若非本人操作请立即联系官方客服。",
            ]
        ],
        "",
    ),
    # ride-hailing, appointments, receipts
    (
        [
            [
                "【滴滴出行】您的司机{name}已到达上车点，车牌{plate}，请尽快上车。",
                "【高德打车】司机{name}已接单，预计3分钟到达，车牌{plate}。",
                "【市第一人民医院】您已成功预约{time}呼吸内科门诊，请携带身份证提前15分钟到达。",
                "【口腔医院】{name}您好，您预约的洗牙时间为{time}，如需改期请提前一天联系。",
                "【瑞幸咖啡】您的订单已制作完成，取餐码{n}，请到店取餐。",
                "【盒马】订单{order}已支付{money}元，预计30分钟送达。",
                "【中国移动】您本月话费账单{money}元，已从账户自动扣除，感谢您的使用。",
                "【国家电网】您的电费余额不足{n}元，请及时通过官方渠道缴费。",
            ]
        ],
        "",
    ),
    # anti-fraud warnings from police and banks
    (
        [
            [
                "【国家反诈中心】",
                "公安提醒：",
                "【反诈提醒】",
                "派出所温馨提示：",
                "【{bank_cn}】防骗提醒：",
            ],
            [
                "公检法机关不会通过电话要求转账到安全账户",
                "刷单返利都是诈骗，不要轻信兼职广告",
                "不要向陌生人转账，也不要透露验证码",
                "冒充客服说要退款理赔的，一律是诈骗",
                "网上贷款先交保证金的，都是骗子",
                "领导微信让你转账，请先打电话核实",
                "所谓稳赚不赔的投资平台都是杀猪盘",
            ],
            ["，如有疑问请拨打96110。", "，请提醒家中老人。", "。", "，遇到可疑情况请及时报警。"],
        ],
        "",
    ),
]


def _station(rng: random.Random) -> str:
    return rng.choice(
        (
            "小区东门驿站",
            "3号楼快递柜",
            "学校南门菜鸟驿站",
            "公司前台",
            "超市旁边的驿站",
            "地铁站口便利店",
        )
    )


SLOTS["station"] = _station

for frame_list, count in (
    (HARD_NEG_FRAMES_ZH[0:1], 30),
    (HARD_NEG_FRAMES_ZH[1:2], 25),
    (HARD_NEG_FRAMES_ZH[2:3], 25),
    (HARD_NEG_FRAMES_ZH[3:4], 30),
    (HARD_NEG_FRAMES_ZH[4:5], 30),
):
    add_frames(frame_list, [], "zh", count)

HARD_NEG_FRAMES_EN = [
    (
        [
            [
                "{bank}: Your card ending {l4} was charged ${money_en} at {merchant} on {date}.",
                "{bank}: A deposit of ${money_en} was made to your account ending {l4}.",
                "{bank}: Your statement balance of ${money_en} is due on {date}. Pay in the app.",
                "{bank}: You sent ${money_en} to {name_en} on {date}.",
                "{bank}: Purchase of ${money_en} at {merchant} approved on card ending {l4}. If you don't recognise it, call the number on the back of your card.",
            ]
        ],
        "",
    ),
    (
        [
            [
                "Your {merchant} order has shipped! Track it with number {track}.",
                "Delivered: your package was left at the front door at {date}.",
                "Your parcel {track} will arrive today between 2pm and 6pm.",
                "Royal Mail: your item {track} is with your local delivery office.",
                "Your Amazon package was handed to the resident.",
                "DHL: your shipment is out for delivery, the driver will call before arriving.",
            ]
        ],
        "",
    ),
    (
        [
            [
                "Your Google verification code is G-{code}. Don't share it with anyone.",
                "{code} is your Uber code. Never share this code.",
                "Your WhatsApp code: {code}. Don't share this code with others.",
                "Use {code} to verify your Microsoft account. We will never ask you for this code.",
                "Your Apple ID code is: {code}. Do not share it.",
                "{code} is your Instagram login code. Don't share it.",
            ]
        ],
        "",
    ),
    (
        [
            [
                "Your Uber driver {name_en} is arriving in 2 minutes in a grey Toyota Corolla.",
                "Reminder: your appointment with Dr {name_en} is on {date} at 9:30am. Reply C to confirm.",
                "Thanks for shopping at {merchant}! Total ${money_en}, paid by card ending {l4}.",
                "Your table for 4 at 7:30pm on {date} is confirmed.",
                "Your prescription is ready for pickup at the pharmacy.",
                "Receipt: {merchant}, ${money_en}, {date}. Thank you for your visit!",
                "Your flight to Tokyo on {date} is now open for online check-in.",
            ]
        ],
        "",
    ),
    (
        [
            [
                "Police warning:",
                "Scam alert from your bank:",
                "Public notice:",
                "Reminder from the fraud team:",
            ],
            [
                "we will never ask you to move money to a safe account.",
                "never share your one-time passcode, not even with bank staff.",
                "jobs that pay you to like videos are scams.",
                "if someone claiming to be family asks for money from a new number, call them first.",
                "tax offices do not accept gift cards as payment.",
            ],
            ["", " Stay safe.", " Tell your parents.", " Report suspicious messages."],
        ],
        " ",
    ),
]


def _merchant(rng: random.Random) -> str:
    return rng.choice(
        (
            "Tesco",
            "Walmart",
            "Starbucks",
            "Target",
            "Costco",
            "IKEA",
            "Amazon",
            "Shell",
            "Uniqlo",
            "Whole Foods",
        )
    )


SLOTS["merchant"] = _merchant
for frame, count in zip(HARD_NEG_FRAMES_EN, (25, 20, 20, 25, 20), strict=True):
    add_frames([frame], [], "en", count)


def _link(rng: random.Random) -> str:
    return rng.choice(
        (
            "https://docs.google.com/document/d/" + _lower(rng, 10),
            "https://github.com/chatguard/chatguard/pull/" + str(rng.randint(10, 400)),
            "https://www.notion.so/team/" + _lower(rng, 8),
            "https://meeting.tencent.com/dm/" + _lower(rng, 6),
            "https://shimo.im/docs/" + _lower(rng, 10),
            "https://www.yuque.com/team/" + _lower(rng, 6),
            "https://forms.office.com/r/" + _lower(rng, 8),
        )
    )


SLOTS["link"] = _link


add_lines(
    """
福彩双色球第2024065期开奖结果：红球03 09 14 22 27 31，蓝球08
体彩大乐透第24066期开奖号码：05 12 19 28 33 + 04 11，本期一等奖3注
My dad lost his savings to online gambling. Does anyone know a support group for families?
戒赌吧里的帖子看得我好难受，赌博真的会毁掉一个家庭
Day 90 without placing a bet. Deleted every app. It gets easier.
我表哥网赌欠了几十万，现在全家帮他还债，大家千万别碰
Health class today covered consent, contraception and how to talk to a doctor about STIs
性教育应该从小做起，让孩子知道如何保护自己的身体
Police say the suspect in Tuesday's attack has been charged with terrorism offences
据新华社报道，警方已抓获袭击事件的嫌疑人，案件正在进一步审理中
The documentary explains how extremist groups recruit online and how families can spot warning signs
学校开展了反恐防暴演练，同学们学习了遇到突发事件时如何疏散
The UN condemned the bombing and called for the perpetrators to be brought to justice
新闻说那个诈骗团伙被端了，抓了一百多人
My grandma almost fell for the "your grandson is in jail" phone scam, please warn your parents
我妈差点被冒充公安的电话骗了，还好我及时发现
Our bank will never ask for your password by phone. Good reminder from the branch today
看了《孤注一掷》，才知道境外电诈这么可怕
What's your favourite casino scene in a movie? Ocean's Eleven for me
I'm reading a history of the Troubles for my politics seminar
The lecture on radicalisation was really interesting, the professor has studied it for 20 years
The match-fixing scandal in the news is crazy, they banned five players
Shit, I forgot my umbrella again
Damn this traffic is insane
You absolute idiot 😂 you sent that to the family group
Fuck yeah we won the final!!!
this song is sick 🔥
I'm gonna kill my brother, he ate my leftovers again 😤
lol shut up you're the worst (love you)
My boss is a pain in the ass today
he's such a dork haha
Colleague: here's the design doc we discussed {link}
Sharing the slides from today's talk: {link}
The registration form for the charity run is here: {link}
同事分享：这是上次讨论的需求文档 {link}
报名表链接在这，大家填一下：{link}
今天的会议纪要：{link}
I'm selling my old bike, 50 bucks, pick up only, DM me if interested
闲置转让一个婴儿车，九成新，200元自提，有需要的私聊
Our bakery is open again after the renovation, come by for a free coffee this weekend!
我们小区业主群：明天上午停水，请大家提前储水
Hi neighbours, I'm organising a group order for fruit from the farm, reply if you want in
团购接龙：明天的草莓，一盒25元，要的接龙
The hotel has a casino on the ground floor but we just went for the buffet
去澳门玩了三天，逛了大三巴，吃了葡挞，没进赌场
Lottery results are out, didn't win anything again haha
My massage therapist fixed my back pain in one session, highly recommend her clinic
推荐一家正规的中医推拿，肩颈不舒服去了两次就好多了
The verification code didn't arrive, can you resend it?
验证码没收到，能再发一次吗？
Don't give your code to anyone, even if they say they're from the bank
他说是银行的让我报验证码，我直接挂了
The bank called me about a suspicious transaction, I called back on the official number and it was real
刚收到银行短信说卡被盗刷，我打了官方客服把卡冻结了
""",
    [],
    "en",
)


# --------------------------------------------------------------------------------------------
# language tag, decided from the text itself: Chinese if it has CJK characters and no Latin words
# (bait such as links, handles and IDs aside), English if it has no CJK, and mixed otherwise
# --------------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_./@-])[A-Za-z]{2,}(?![A-Za-z0-9_./-])")


def detect_lang(text: str) -> str:
    has_cjk = bool(_CJK.search(text))
    # bait values (links, handles, IDs) do not make a Chinese line "mixed"
    stripped = re.sub(
        r"(https?://|www\.)\S+|\S+\.(top|xyz|cc|vip|icu|club|shop|live|site|info|com|cn|im|so)\S*|@\w+|\b\w*\d\w*\b",
        " ",
        text,
    )
    latin_words = _LATIN_WORD.findall(stripped)
    if not has_cjk:
        return "en"
    if latin_words:
        return "mixed"
    return "zh"


def stats_table(path: Path = OUT) -> str:
    """Markdown table of positives per category and language (and clean rows) in ``path``."""
    with path.open(encoding="utf-8") as fh:
        data = [json.loads(line) for line in fh if line.strip()]
    langs = ("en", "zh", "mixed")
    out = ["| category | " + " | ".join(langs) + " | total |", "|---|" + "---:|" * (len(langs) + 1)]
    for cat in (*CATEGORIES, "clean (none)"):

        def hit(row: dict[str, object], cat: str = cat) -> bool:
            cats = row["categories"]
            assert isinstance(cats, list)
            return not cats if cat.startswith("clean") else cat in cats

        counts = Counter(str(row["lang"]) for row in data if hit(row))
        out.append(
            f"| {cat} | "
            + " | ".join(str(counts[x]) for x in langs)
            + f" | {sum(counts.values())} |"
        )
    by_lang = Counter(str(row["lang"]) for row in data)
    out.append(
        "| **all rows** | " + " | ".join(str(by_lang[x]) for x in langs) + f" | {len(data)} |"
    )
    multi = sum(
        1 for row in data if isinstance(row["categories"], list) and len(row["categories"]) > 1
    )
    out.append("")
    out.append(f"Rows with more than one category: {multi}.")
    return "\n".join(out)


def main() -> None:
    final = build_rows()
    with OUT.open("w", encoding="utf-8") as fh:
        for text, cats, lang in final:
            fh.write(
                json.dumps(
                    {"text": text, "categories": list(cats), "lang": lang}, ensure_ascii=False
                )
                + "\n"
            )
    print(stats_table())


if __name__ == "__main__":
    main()
