"""Build ``traffic.jsonl``: sample chat messages and posts for ``chatguard produce`` and benchmarks.

The wording here is written separately from the seed corpus (``training/seed``) so that traffic
measures how the default model generalizes rather than what it memorized. Each line is
``{"kind": "chat" | "post", "text": ..., "expected": [...]}``; posts add ``post_kind``,
``account_type`` and sometimes ``title``.

The phrases below are data: importing this module only records them (``chat`` and ``post`` add
to a plan). :func:`build_traffic` fills their bait values and shuffles with its own seeded
generator, so ``python -m devtools.samples.build_traffic`` rewrites the same file byte for byte.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

SEED = 7_310_024
OUT = Path(__file__).with_name("traffic.jsonl")

Event = dict[str, object]


@dataclass(frozen=True)
class _Planned:
    """One event as written below, before its bait values are filled."""

    kind: str  # chat | post
    text: str
    expected: tuple[str, ...]
    post_kind: str = ""
    account_type: str = ""
    title: str | None = None


_PLAN: list[_Planned] = []


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _bait(rng: random.Random, text: str) -> str:
    """Fill the few placeholders used below with fresh values."""
    while "{" in text:
        key = text[text.index("{") + 1 : text.index("}")]
        value = {
            "mobile": "1" + rng.choice("35789") + _digits(rng, 9),
            "intl": f"+1 {rng.randint(201, 989)} 555 {_digits(rng, 4)}",
            "qq": str(rng.randint(200_000_000, 2_999_999_999)),
            "wx": rng.choice(("kk", "meng", "xx", "ruby", "tian", "hao"))
            + _digits(rng, rng.randint(3, 5)),
            "tg": "@"
            + rng.choice(("fastprofit", "luckyspin", "hotnite", "trueway", "goldhand"))
            + _digits(rng, 2),
            "site": rng.choice(("https://", "", "www."))
            + rng.choice(
                ("pkq", "lyt", "88wan", "jz-zone", "mvp-bet", "yuehui", "quickcash", "appleid-help")
            )
            + _digits(rng, rng.randint(1, 3))
            + "."
            + rng.choice(("top", "xyz", "vip", "cc", "shop", "fun")),
            "code": _digits(rng, 6),
            "l4": _digits(rng, 4),
            "cny": f"{rng.randint(12, 6000)}.{_digits(rng, 2)}",
            "usd": f"{rng.randint(5, 900)}.{_digits(rng, 2)}",
        }[key]
        text = text.replace("{" + key + "}", value, 1)
    return text


def chat(block: str, expected: list[str]) -> None:
    """Plan one chat message per non-empty line of ``block``."""
    for line in block.strip().splitlines():
        if line.strip():
            _PLAN.append(_Planned("chat", line.strip(), tuple(sorted(expected))))


def post(
    text: str, expected: list[str], post_kind: str, account_type: str, title: str | None = None
) -> None:
    """Plan one post."""
    _PLAN.append(
        _Planned("post", text.strip(), tuple(sorted(expected)), post_kind, account_type, title)
    )


def _event(rng: random.Random, planned: _Planned) -> Event:
    event: Event = {
        "kind": planned.kind,
        "text": _bait(rng, planned.text),
        "expected": list(planned.expected),
    }
    if planned.kind == "post":
        event["post_kind"] = planned.post_kind
        event["account_type"] = planned.account_type
        if planned.title:
            event["title"] = planned.title
    return event


# ---------------------------------------------------------------------------------------------
# clean chat, English
# ---------------------------------------------------------------------------------------------
chat(
    """
yep
sure thing
kk
cool cool
haha nice
ty!
no worries
be there in 5
omw 🚗
just woke up lol
what are you up to?
did mum call you back?
the dog ate my sock again
anyone seen my blue hoodie?
parking is a nightmare here
we need more toilet paper
my back is killing me after that workout
which platform does the train leave from?
can we push lunch to 1:30?
quick q: is the report due Thursday or Friday?
sent you the invoice, let me know if anything's off
I'm buying the tickets now, 4 adults 2 kids right?
the heating in the office is broken again 🥶
lunch options: sushi or tacos? vote
nope, still waiting for the plumber
the new season drops on Friday!!
who finished the milk and put the carton back 😑
my sister just had twins!!! 👶👶
it's pouring, bring an umbrella
I'll pick the kids up from swimming
does the gym open early on holidays?
hang on, the baby's crying
that's the third time the bus skipped our stop
we got the apartment!!! moving in March
grandpa's surgery went well, he's resting now
have a safe flight ✈️
did you finish the crossword? I'm stuck on 14 across
great job on the presentation today
laptop died mid-call, rejoining
our Wi-Fi is so slow tonight
the cake turned out lopsided but tastes great
reminder: bins go out tonight
can you feed the cat on Saturday?
so proud of you!! 🎓
he scored in the last minute, unreal
ugh Mondays
happy anniversary you two ❤️
she got into medical school!
where did you park?
I owe you one
the quiz night is at the Crown, 8pm
bring snacks for the road trip
which size should I order, M or L?
the shop says the sofa arrives Thursday
I'm knackered, early night
you're a legend, thanks for the help moving
damn, I missed the last train
crap, forgot my lunch at home
that referee was blind lol
bruh you're hopeless at this game 😂
shut up, that's hilarious
what a dumbass move by me, I locked the keys in the car
Can you forward me the Zoom link for 3pm?
Here's the spreadsheet with the budget: https://docs.google.com/spreadsheets/d/1xYbudget
Got a text from the bank about a charge I made myself, all good
Mum asked if we want dumplings or noodles on Sunday
""",
    [],
)

# ---------------------------------------------------------------------------------------------
# clean chat, Chinese
# ---------------------------------------------------------------------------------------------
chat(
    """
嗯
好嘞
行
收到收到
哈哈哈哈笑不活了
稍等
马上
OK的
吃了没
到哪了
刚下班
我先睡了
你几点到
帮我带杯咖啡
今天好热啊
空调坏了热死了
孩子发烧了，我请个假
外卖到了没
我在门口等你
电梯又坏了
今天加班到九点
周报写完了吗
这周五团建去哪
谁有充电宝借一下
老妈让我们周末回家吃饭
快递放门卫那了
地铁停运了，打车回去
快看群相册，新照片
这个表情包笑死我了
宝宝今天会叫爸爸了😭
明天记得带伞
周末去宜家吗
晚上一起跑步
下雪啦！
猫主子又把杯子打翻了
我刚到公司
会议室被占了，换到三楼
报销单我交了
奶茶我请
老师布置的作业是第五单元
这道题怎么做啊
考研加油💪
你们看世界杯了吗
这球进得太漂亮了
今晚开黑，五排
我掉分了，心态崩了
新买的耳机音质不错
双十一买了啥
搬家搞定，累瘫
楼下超市打折
明天早上八点出发
火车晚点了半小时
已到酒店，勿念
生日快乐呀🎉
恭喜发财，红包拿来😂
新年快乐！
辛苦辛苦
你真是个小天才
我靠，差点迟到
这破电脑又卡死了
气死我了，又堵车
傻了吧唧的，我把钥匙锁车里了哈哈
滚蛋，别笑我😂
刚收到工资短信，开心
银行打电话说信用卡到期换卡了，我去网点问了是真的
验证码过期了，再发一个给我呗
这是今天会议的共享文档：https://shimo.im/docs/meetnotes2024
""",
    [],
)

chat(
    """
ok 我马上 online
这个 bug 太 tricky 了
周末 hiking 吗
帮我 check 一下邮件
晚上 zoom 开会别忘了
我们 team 今天 ship 了新版本
""",
    [],
)

# hard negatives in chat: share words with abuse, but are fine
chat(
    """
【招商银行】您尾号{l4}的一卡通于今日消费人民币{cny}元，如有疑问请拨打95555。
【顺丰】快件已放入小区北门丰巢柜，凭取件码{code}取件，超时将收取保管费。
【饿了么】您的订单骑手已取餐，预计18:42送达。
【哈啰】您的验证码为{code}，有效期5分钟，请勿告诉他人。
【市反诈中心】冒充领导、熟人借钱的，请务必电话或当面核实。
【社区医院】您预约的疫苗接种时间为周三上午，请携带接种本。
彩票站老板说这期双色球有人中了二等奖，不是我哈哈
看新闻说警方破获一个跨境赌博团伙，涉案几十亿
我爸以前赌博输了很多钱，现在终于戒了，希望大家远离赌博
学校今天请了医生来讲青春期和性健康，讲得挺好
新闻里说那个恐怖袭击的主犯被判了死刑
中学生安全教育课讲了怎么识别网络诈骗
你们千万别信刷单，我同事被骗了三千
Chase: Your card ending {l4} was used for ${usd} at Trader Joe's. Reply NO if this wasn't you.
FedEx: your package is scheduled for delivery tomorrow by end of day.
{code} is your Airbnb verification code. It expires in 10 minutes. Don't share it.
Lyft: your driver Maria is 3 min away in a white Honda Civic.
Local police: officers will never ask for payment over the phone. Hang up and call 101.
The Powerball numbers for Saturday were drawn, nobody hit the jackpot.
My uncle is in recovery for gambling addiction, he says the support group saved him
The museum has a new exhibition on the history of terrorism in Europe, very sobering
Our biology teacher did the contraception talk today, everyone was giggling
I reported that fake prize text to 7726, hope they shut it down
""",
    [],
)

# ---------------------------------------------------------------------------------------------
# abusive chat
# ---------------------------------------------------------------------------------------------
chat(
    """
followed you, pls follow back 🙏 tryna reach 5k
promo: phone cases 3 for $10, message me for the catalogue
anyone need cheap AirPods? bulk deals for shop owners, dm
need traffic for your store? we push 50k visitors a week, ping {tg}
亲们，新到一批轻奢包包，朋友圈有图，V我{wx}
本店支持一件代发，欢迎宝妈加盟，扣{qq}
互相关注一下呗，关注必回
抖音快手代运营，保证上热门，私聊
全网最低价洗护用品，批发价拿货，vx：{wx}
求关注求点赞，关注我回关你们每个人
""",
    ["spam"],
)
chat(
    """
your Amazon account is on hold, confirm your billing at {site}
hi grandma, new number! I'm in trouble and need {usd} today, please don't tell dad
Bank security team: read me the 6 digits we just texted so we can stop the fraud
I can turn your $500 into $5,000 in a week with my forex signals, trust me
you qualify for a government grant of $9,000, small release fee required
I'm the HR manager, you've been hired for a remote role. Buy the equipment with your own card first and we'll reimburse
你好，这里是快递理赔中心，您的包裹破损，我们加您微信为您退款
我是你们公司财务，老板让我通知你把货款先打到这个新账户
您的花呗额度异常，需要关闭服务，请按我说的操作
刚才发给你的验证码是我的，手滑发错了，麻烦念一下
跟着老师炒币，一个月翻了五倍，你也来试试吧
免费领取养老补贴，填写身份证和银行卡号即可到账
您的账户涉嫌违规，即将被公安机关冻结，请配合转账到监管账户
点赞做任务，一单5块，做满十单需要充值解冻
""",
    ["fraud"],
)
chat(
    """
bored & alone tonight 😘 come see me, I host, {intl}
want pics? I sell private content, cashapp only
body rub with extras, downtown, discreet
要不要来点刺激的？视频裸聊，先付后看
附近的小姐姐，酒店上门，V{wx}
深夜放松，私密按摩，服务到位
有没有想约的，同城，今晚
""",
    ["sexual"],
)
chat(
    """
parlay tips tonight, 3-leg, 20x payout, join {tg}
new casino app gives 100 free spins just for signing up {site}
who wants in on tonight's match? I run a private book, min bet $50
百家乐包赢技巧，带你回本
上下分，信誉平台，大额可提，扣{qq}
今晚英超推荐，稳胆，跟单的进群
网上棋牌，真钱对战，充值秒到
""",
    ["gambling"],
)
chat(
    """
the attackers were heroes, the next strike is coming and we need volunteers
pick up a weapon and join the fight for the homeland, the time is now
they should have bombed more of them, glory to the martyrs
兄弟们，准备好，圣战开始了，跟我们走
那些搞袭击的都是英雄，我们也要行动起来
""",
    ["extremism"],
)
chat(
    """
you stupid cow, nobody in this group can stand you
keep talking and I'll smash your face in
people like you make me sick, crawl back to your slum
immigrants like you should be kicked out, you filth
你算什么东西，脑子有病吧，滚
再说一句试试，我让你在这城市混不下去
外地人素质真差，都滚回去
丑八怪，照照镜子吧，恶心
你个死肥猪，谁看得上你
""",
    ["hate"],
)
chat(
    """
group members only: free $20 casino bonus, share this in 3 groups to unlock {site}
hey all, escort agency here, girls in every district, text for menu {intl}
各位群友打扰了，新平台注册就送88元彩金，拉人再送，{site}
广告：同城约会软件，美女多，下载就能约 {site}
【通知】恭喜您获得抽奖资格，一等奖iPhone，点击{site}领取，转发好友机会翻倍
""",
    [],
)  # placeholder list, filled below

# the five multi-label chats just added: fix their labels in order
for index, labels in zip(
    range(len(_PLAN) - 5, len(_PLAN)),
    (
        ["gambling", "spam"],
        ["sexual", "spam"],
        ["gambling", "spam"],
        ["sexual", "spam"],
        ["fraud", "spam"],
    ),
    strict=True,
):
    _PLAN[index] = replace(_PLAN[index], expected=tuple(sorted(labels)))
chat(
    """
every last one of those refugees should be shot, arm up brothers
这些异教徒都该死，拿起武器清理他们
""",
    ["extremism", "hate"],
)
chat(
    """
pay the booking deposit first or the girl won't come, gift cards only
我有你的裸照，给我转五千，不然发你朋友圈
""",
    ["fraud", "sexual"],
)
chat(
    """
跟着我的计划买幸运飞艇，稳赚，先交一千会费
""",
    ["fraud", "gambling"],
)


# ---------------------------------------------------------------------------------------------
# posts: moments, comments, articles, ads
# ---------------------------------------------------------------------------------------------
for text in (
    "Sunday pancakes with the kids 🥞",
    "First snow of the year ❄️",
    "Ran 10k this morning, new personal best!",
    "Graduation day, so proud of this one 🎓",
    "Finally repainted the balcony, took all weekend",
    "Date night at our favourite Italian place",
    "This view never gets old",
    "周末带娃去动物园，熊猫太可爱了🐼",
    "今天的晚饭，自己做的番茄牛腩",
    "终于考完了，解放！",
    "春天来了，楼下的樱花开了🌸",
    "和老同学十年后再聚首",
    "新买的绿植，希望这次别养死😂",
    "在海边看日落，什么都不想",
):
    post(text, [], "moment", "personal")

post(
    "Three weeks in Yunnan: we started in Kunming, took the slow train to Dali, cycled around Erhai lake, then spent five days in Lijiang and hiked Tiger Leaping Gorge. The gorge trail is harder than people say, bring proper shoes and lots of water, and book the guesthouse halfway up in advance. The food was the highlight: rice noodles every morning and wild mushrooms every night. Already planning the next trip.",
    [],
    "moment",
    "personal",
)
post(
    "去年这个时候我还在医院陪床，今年爸爸已经能自己下楼散步了。感谢医生护士，感谢一直陪着我们的亲戚朋友。生活不容易，但是只要家人都在，就什么都不怕。愿大家都健康平安，珍惜身边的人。",
    [],
    "moment",
    "personal",
)

for text in (
    "great article, thanks for sharing",
    "this recipe worked perfectly, added extra garlic",
    "I disagree with point 3 but the rest is spot on",
    "where was this photo taken?",
    "hope your dad gets better soon",
    "写得真好，收藏了",
    "请问这个活动外地人能参加吗？",
    "同意楼上",
    "蹲一个后续",
    "笑死，评论区比正文还精彩",
    "说得对，反诈宣传要多做",
):
    post(text, [], "comment", "personal")

for text, labels in (
    ("follow me back pls, I followed everyone in the comments 🙏", ["spam"]),
    ("nice post! btw I sell followers, 1k for $5, check my profile", ["spam"]),
    ("评论区的朋友，需要兼职的加我，刷单日入三百", ["fraud"]),
    ("看我头像，同城约，今晚有空", ["sexual"]),
    ("想回本的来找我，平台稳，上分快 {site}", ["gambling"]),
    ("作者就是个傻X，写的什么垃圾，全家去死吧", ["hate"]),
    ("you idiot, people like you should be deported, go back where you came from", ["hate"]),
    ("the attack was justified, more should follow", ["extremism"]),
    ("thanks for the giveaway! PS: free crypto doubling at {site} 🚀", ["fraud", "spam"]),
):
    post(text, labels, "comment", "personal")

post(
    "Weekly update from the city council: the riverside path will be closed for repairs from Monday to Friday. Bus route 12 is diverted via Station Road during the works. The library reopens on Saturday with extended hours, and the free coding club for teenagers restarts next month. Residents can report potholes and broken street lights through the council app.",
    [],
    "article",
    "official",
    title="This week in your city",
)
post(
    "Police are warning residents about a wave of phone calls from people pretending to be bank staff. The callers say the account has been compromised and ask the victim to move money to a 'safe account' or read out a one-time code. Banks never do this. If you get such a call, hang up, wait five minutes and call the number on the back of your card. Last month 43 people in the district lost a total of £210,000 this way.",
    [],
    "article",
    "official",
    title="Safe account scam: how to spot it",
)
post(
    "【警方提醒】近期出现冒充电商客服以'商品质量问题退款'为由实施诈骗的案件。骗子会准确说出您的订单信息，诱导您下载会议软件共享屏幕，或者在'理赔页面'填写银行卡号和验证码。请记住：正规平台退款直接原路退回，不会要求您提供验证码或转账。如接到可疑电话，请拨打96110咨询。",
    [],
    "article",
    "official",
    title="警惕冒充客服退款诈骗",
)
post(
    "本周天气：周二至周四有中到大雨，局部暴雨，请市民注意出行安全，尽量避开低洼路段。周末气温回升，适合户外活动。市体育中心本周六举办全民健身日，游泳馆免费开放一天。",
    [],
    "article",
    "official",
    title="本周天气与活动提示",
)
post(
    "A new study followed 2,000 people who sought help for problem gambling. Those who combined counselling with blocking software on their phones were twice as likely to stay bet-free after a year. Researchers say the easy availability of betting apps is a key driver and call for stricter advertising rules.",
    [],
    "article",
    "public",
    title="What helps problem gamblers quit",
)
post(
    "从一名退役反恐特警的讲述中，我们了解到一线处置的艰辛。他说，最难的不是训练，而是每次出警前和家人的告别。十几年来，他参与过多次演练和处置行动，始终把群众安全放在第一位。",
    [],
    "article",
    "public",
    title="他守护了这座城市十五年",
)
post(
    "Recipe: a weeknight mapo tofu in 20 minutes. Fry minced pork until crisp, add doubanjiang and garlic, pour in stock, slide in the tofu cubes and simmer for five minutes. Thicken with starch, finish with Sichuan pepper and spring onions. Serve with plenty of rice.",
    [],
    "article",
    "public",
    title="20-minute mapo tofu",
)
post(
    "这家面馆开了三十年，老板每天凌晨四点起来熬汤。牛肉面12块一碗，汤头清亮，面是手工拉的。最近因为城市改造要搬迁，很多老顾客专门赶来吃最后一碗。老板说新店就在隔壁街，味道不会变。",
    [],
    "article",
    "public",
    title="一碗面里的三十年",
)

post(
    "I quit my job and now make $15,000 a month from home with this trading bot. Everybody can do it, no experience needed. The platform guarantees returns of 3% a day and you can withdraw any time. Spots are limited because the developers only accept 100 new members per month. Message my mentor on {tg} and mention my name to get the onboarding bonus. Don't miss out like I almost did!",
    ["fraud", "spam"],
    "article",
    "public",
    title="How I replaced my salary in 30 days",
)
post(
    "【重磅】国家扶持项目，投资数字资产稳赚不赔，一万起投，每日分红{cny}元，邀请好友另有奖励。已有三千多人提现成功，名额有限，速加客服微信{wx}，备注'项目'。",
    ["fraud", "spam"],
    "article",
    "public",
    title="普通人也能抓住的机会",
)
post(
    "We are the vanguard. The attacks last month showed the world that we are not afraid to die. Every true believer must now choose: stand with the fighters or be counted among the enemy. Cells are forming in every city. Train your body, prepare your weapons, await the signal.",
    ["extremism"],
    "article",
    "public",
    title="The hour has come",
)
post(
    "某省人就是天生的小偷和骗子，这不是地域黑，这是事实。我见过的每一个都是这样，所以大家租房招工都别要他们，让他们在城里待不下去，自己就滚回去了。",
    ["hate"],
    "article",
    "public",
    title="说点大实话",
)
post(
    "Tonight only: 500% reload bonus on every deposit, live dealers, instant crypto withdrawals. Join thousands of winners at {site} and claim your free spins now. 18+ only, but nobody checks 😉",
    ["gambling", "spam"],
    "article",
    "public",
    title="Your lucky night",
)

for text, labels, account in (
    (
        "Spring sale: 20% off all running shoes in store and online until Sunday. Members get free returns.",
        [],
        "official",
    ),
    ("新店开业，全场咖啡第二杯半价，欢迎到店品尝。地址：人民路88号。", [], "official"),
    (
        "Our bakery now delivers! Order before 10am for same-day delivery in the city centre.",
        [],
        "public",
    ),
    ("暑期游泳班招生，专业教练，小班教学，详情咨询前台。", [], "public"),
    (
        "Learn Mandarin online with certified teachers, first lesson free. Book on our website.",
        [],
        "public",
    ),
    (
        "1:1 replica designer handbags, half the price of the real thing, WhatsApp {intl}",
        ["spam"],
        "public",
    ),
    ("低价出售各大平台会员账号，永久有效，量大优惠，加v{wx}", ["spam"], "public"),
    (
        "Bad credit? Instant loan up to $5,000, no checks, pay a small activation fee to receive funds",
        ["fraud"],
        "public",
    ),
    ("手机兼职，每天两小时，日赚三百，无需经验，先交培训费即可上岗，扣{qq}", ["fraud"], "public"),
    (
        "🔞 premium adult videos, new uploads daily, subscribe at {site}",
        ["sexual", "spam"],
        "public",
    ),
    ("私人会所，高端外围，空降全国，V{wx}", ["sexual", "spam"], "public"),
    ("体育菠菜平台，足球篮球电竞都能买，首存送彩金 {site}", ["gambling", "spam"], "public"),
    (
        "Win big on slots! 200 free spins for new players, no deposit needed {site}",
        ["gambling", "spam"],
        "public",
    ),
):
    post(text, labels, "ad", account)


chat(
    """
lads the movement needs men who aren't scared to bleed, message me if you're ready
that bomber did more for the cause than all of you keyboard warriors
we will strike their stations and their schools until they surrender
share the martyr's video before they take it down, let it inspire the next one
武装起来，推翻他们，流血是必要的代价
向那次爆炸的执行者致敬，他是真正的战士
训练营还缺人，愿意献身的兄弟私聊我
异教徒的城市必须燃烧，这是神的旨意
""",
    ["extremism"],
)
chat(
    """
nobody likes you, you fat useless loser, just disappear
I'm going to wait outside your office and teach you a lesson
women like you belong in the kitchen, stop embarrassing yourself
你这种残废就别出来丢人了
同性恋真恶心，离我们远点
乡下来的土包子，闭嘴吧
""",
    ["hate"],
)
chat(
    """
new girls just arrived at the spa, full service, walk-ins welcome
I do video calls with no clothes on, $30 for 15 min, dm me
全套服务，学生气质的成年妹子，加V看照片
看片资源群，无码高清，私我拉你
老地方见，带钱，今晚包夜
""",
    ["sexual"],
)
chat(
    """
deposit via USDT, get 50% extra on the crash game, no limits {site}
I've got the locks for tomorrow's matches, $20 per slip
六合彩特码资料，今晚必开，私聊
真人荷官在线，龙虎斗，存一百送一百
跟我买大小，十把赢九把
""",
    ["gambling"],
)
chat(
    """
your WeChat Pay is frozen due to suspicious activity, unfreeze here {site}
Congrats, you were picked for our customer survey reward of ${usd}, enter your card details to receive it
您的抖音账号涉嫌违规，缴纳保证金可解封，联系客服{qq}
老板让我转告你，先把这笔钱打到他朋友账上，他在开会不方便
""",
    ["fraud"],
)
chat(
    """
cheap Spotify family slots, $2 a month, dm for invite
微信加粉神器，一天加满五千好友，免费试用{wx}
抖音小红书代发笔记，一条二十，量大从优
""",
    ["spam"],
)

# ---------------------------------------------------------------------------------------------
# more short chat from small frames, to bring the sample to ~400 with chat's usual mix
# ---------------------------------------------------------------------------------------------
_EN_OPEN = ("just", "finally", "literally", "honestly, I", "lol I", "ok so I")
_EN_DID = (
    "fixed the bike",
    "booked the restaurant",
    "found the charger",
    "finished the essay",
    "cleaned the fridge",
    "paid the electricity bill",
    "watched the finale",
    "called the landlord",
    "ordered the birthday cake",
    "sorted the recycling",
    "fed the fish",
    "renewed my passport",
)
_EN_TAIL = ("", "!", " 🎉", ", finally", " haha", ", what a day")
_ZH_WHO = ("我", "我刚", "老公", "我妈", "室友", "同事")
_ZH_DID = (
    "修好了自行车",
    "订好了餐厅",
    "找到充电器了",
    "写完论文了",
    "把冰箱收拾了",
    "交了电费",
    "看完大结局了",
    "给房东打了电话",
    "订了生日蛋糕",
    "把垃圾分好类了",
    "喂了鱼",
    "办好了护照",
)
_ZH_TAIL = ("", "！", "🎉", "，终于", "哈哈", "，累死")
CLEAN_CHATS = 240  # everyday chat lines, topped up from the phrase parts above


def build_traffic(seed: int = SEED) -> list[Event]:
    """Every planned event with fresh bait values, then everyday chat up to ``CLEAN_CHATS``,
    shuffled; the same ``seed`` gives the same list."""
    rng = random.Random(seed)
    events: list[Event] = []
    seen: set[str] = set()

    def add(event: Event) -> None:
        text = str(event["text"])
        if text in seen:
            raise ValueError(f"duplicate traffic text: {text!r}")
        seen.add(text)
        events.append(event)

    for planned in _PLAN:
        add(_event(rng, planned))
    while sum(1 for e in events if e["kind"] == "chat" and not e["expected"]) < CLEAN_CHATS:
        if rng.random() < 0.5:
            text = f"{rng.choice(_EN_OPEN)} {rng.choice(_EN_DID)}{rng.choice(_EN_TAIL)}"
        else:
            text = f"{rng.choice(_ZH_WHO)}{rng.choice(_ZH_DID)}{rng.choice(_ZH_TAIL)}"
        if text not in seen:
            add({"kind": "chat", "text": text, "expected": []})
    rng.shuffle(events)
    return events


def main() -> None:
    shuffled = build_traffic()
    with OUT.open("w", encoding="utf-8") as fh:
        for event in shuffled:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
    per_cat = Counter(c for e in shuffled for c in _expected(e))
    clean = sum(1 for e in shuffled if not e["expected"])
    kinds = Counter(str(e["kind"]) for e in shuffled)
    print(
        f"{len(shuffled)} events {dict(kinds)}, clean {clean} ({clean / len(shuffled):.0%}), {dict(per_cat)}"
    )


def _expected(event: Event) -> list[str]:
    expected = event["expected"]
    assert isinstance(expected, list)
    return [str(c) for c in expected]


if __name__ == "__main__":
    main()
