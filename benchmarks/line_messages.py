"""First messages as employees type them on a phone, for the LINE benchmark (issue 15).

The benchmark used to send one and the same first message from all 300 users, so the learned screening
layer read it once (its digest cache) and 299 users cost it nothing. A help line's first messages differ:
mostly a greeting and "can I talk to someone", then booking and service questions, then ordinary distress
about work and family; mostly Traditional Chinese as typed on a phone, some Simplified Chinese, English,
Taiwanese Hokkien, emoji and typos; from two characters to a few hundred. A small share (about 2 %) carry
a crisis inside a ramble, so that the crisis path (crisis reply first, the on-duty counselor's alert) is
exercised too.

Written here for the benchmark, by hand, piece by piece; nothing is taken from ``benchmarks/data/`` or the
screening exemplars (the held-out sets and the training data must not leak into a load test, nor the
other way round). :func:`first_messages` combines the pieces with a seeded ``random.Random``: the same
``n`` and ``seed`` give the same messages, all different from each other.
"""

from __future__ import annotations

import random

SEED = 15  # issue 15
CRISIS_SHARE = 0.02

GREETINGS = (
    "你好", "您好", "哈囉", "嗨～", "hi", "Hello", "你好～", "您好，請問", "不好意思打擾了", "安安",
    "早安", "午安", "晚安", "老師好", "請問一下", "在嗎", "有人在嗎？", "哈囉哈囉", "你好呀", "嗨嗨",
    "您好😊", "你好🙏", "hello~", "哩賀", "你好我是新來的", "欸你好", "hi hi", "請問有人嗎",
)  # fmt: skip
ASKS = (
    "我想找人聊聊", "可以跟你們聊一下嗎", "想找人說說話", "我想諮詢", "想問一下怎麼預約諮商",
    "我可以跟心理師談談嗎", "請問這裡可以聊天嗎", "想要找個人講講心事", "能不能跟專業的人聊聊",
    "可以幫我一下嗎", "我需要幫忙", "想了解員工協助方案", "這個是匿名的嗎", "聽同事說可以來這裡問",
    "主管不會知道吧？", "我想找諮商師", "有點事想問", "想聊聊最近的狀況", "想問問題", "我該怎麼開始",
    "想找人聊天可以嗎", "我想跟人談談工作的事", "I'd like to talk to someone", "can I talk to a counselor?",
    "我想找人聊聊 可以嗎", "我想找人聊聊ㄛ", "我想找人聊聊～～", "想找人聊天ㄚ", "我想找仁聊聊",
    "我想跟人聊聊", "有人可以聽我說嗎", "想要抒發一下", "我想问一下怎么预约", "想找人倾诉一下",
    "我想欲揣人開講", "有閒通開講無？", "想請教一些事情",
)  # fmt: skip
SERVICE = (
    "請問諮商是免費的嗎？一年可以幾次？", "想預約面談，下週三下午有時段嗎", "如果要取消預約要提前多久說",
    "請問法律諮詢也可以問嗎？是關於租屋的問題", "我想問財務方面的諮詢，卡債的部分", "諮商會留紀錄嗎？會給人事室看嗎",
    "請問你們幾點上班", "晚上也有人回覆嗎", "家人也可以用這個服務嗎", "新進人員也能申請嗎",
    "想問醫療保健的資源，我最近一直失眠想看醫生", "可以改成email聯絡嗎", "面對面諮商要去哪裡",
    "請問4小時用完之後怎麼算", "想問生涯規劃，我在考慮要不要轉調", "婚喪喜慶的補助是問這裡嗎",
    "預約的時間可以改嗎 我那天臨時要出差", "請問是真人回覆嗎", "是不是要先選類別", "怎麼取消剛剛的預約",
    "how does the counselling work? is it free", "请问心理咨询要钱吗", "上次那個案件代號我忘記了",
)  # fmt: skip
DISTRESS = (
    "最近工作壓力好大，每天都加班到很晚", "跟主管相處得很不好，每次開會都被點名", "我跟同事有一些誤會，不知道怎麼處理",
    "家裡最近很多事，爸爸住院了我要一直請假", "跟老公一直吵架，小孩也被影響", "最近睡不好，半夜一直醒來",
    "覺得自己做什麼都不對，有點沮喪", "工作量太大了，做不完又不敢說", "剛調到新單位，什麼都不熟很焦慮",
    "考績不好，擔心明年的升遷", "婆婆跟我們住，每天都很緊繃", "小孩叛逆期，我不知道該怎麼跟他溝通",
    "分手了，上班都沒辦法專心", "被民眾客訴，心情很差一直想那件事", "我媽失智了，照顧她很累",
    "錢不夠用，房貸壓得我喘不過氣", "最近常常莫名其妙想哭", "壓力大到胃痛，看醫生說是自律神經",
    "主管一直在群組裡公開罵人，大家都很怕", "我覺得被同事排擠，午餐都沒人找我", "輪班輪到身體很差",
    "離婚的事情還沒處理完，很煩", "工作好累喔，下班只想躺平", "最近心情很低落，什麼都不想做",
    "work has been really stressful lately and I can't sleep", "最近工作压力很大，天天加班",
    "頭家逐工攏罵人，我真正忝", "厝內的代誌足濟，心肝頭足艱苦",
)  # fmt: skip
DETAILS = (
    "已經好幾個月了", "我不知道該找誰講", "跟家人講他們也不懂", "也不敢跟同事說", "怕被說是抗壓性不好",
    "上禮拜還請了兩天假", "每天早上都不想出門上班", "週末也一直在想工作的事", "朋友都說我想太多",
    "我有試著運動但沒什麼用", "不知道這樣算不算嚴重", "可能只是需要有人聽我說", "其實我也不太確定要問什麼",
    "之前沒有用過這種服務", "打字有點亂不好意思", "我在捷運上用手機打的", "晚點可能要開會",
    "先謝謝你們", "希望不會太麻煩", "我不想讓主管知道",
)  # fmt: skip
CLOSINGS = (
    "謝謝", "謝謝你們", "感恩", "麻煩了", "拜託了", "謝謝🙏", "thx", "3Q", "感謝", "多謝", "謝謝～",
    "😢", "😭", "😞", "🥲", "🙏🙏", "…", "QQ", "orz", "唉", "～",
)  # fmt: skip
EMOJI = ("😊", "😢", "😭", "🙏", "😅", "😞", "💦", "😩", "🥺", "❤️")
# Said in a ramble about something else, as crises usually are; the lexicon must catch each.
CRISES = (
    "其實我最近覺得{x}，我不想活了，真的好累",
    "{x}。說真的我已經不想活了",
    "{x}，有時候會想說乾脆去死一死算了",
    "我{x}，昨天把安眠藥都存起來了，想說今晚就結束",
    "{x}…我覺得大家沒有我會比較好，想自殺",
    "{x}，我在頂樓，不想再撐了",
)  # fmt: skip
TYPOS = {"聊": "撩", "想": "相", "請": "清", "問": "門", "預約": "預越", "謝謝": "謝ㄒㄧㄝˋ", "的": "ㄉ"}


def _typo(rng: random.Random, text: str) -> str:
    for right, wrong in TYPOS.items():
        if right in text and rng.random() < 0.3:
            return text.replace(right, wrong, 1)
    return text


def _join(rng: random.Random, parts: list[str]) -> str:
    out = ""
    for part in parts:
        if not out:
            out = part
            continue
        mark = rng.choice(("，", "。", " ", "\n", "！", "", "...", "，"))
        out += mark + part
    return out


def _ordinary(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:  # a bare greeting or a two-character opener
        parts = [rng.choice(GREETINGS)]
    elif roll < 0.55:  # greetings and "can I talk to someone": most first messages
        parts = [rng.choice(GREETINGS), rng.choice(ASKS)]
        if rng.random() < 0.3:
            parts.append(rng.choice(DETAILS))
    elif roll < 0.72:  # booking and service questions
        parts = [rng.choice(GREETINGS), rng.choice(SERVICE)]
        if rng.random() < 0.3:
            parts.append(rng.choice(SERVICE))
    else:  # ordinary distress about work and family, from one line to a few hundred characters
        parts = [rng.choice(GREETINGS)] if rng.random() < 0.6 else []
        parts += rng.sample(DISTRESS, rng.choice((1, 1, 2, 3, 5, 8, 12)))
        parts += rng.sample(DETAILS, rng.choice((0, 1, 2, 4, 6)))
        if rng.random() < 0.5:
            parts.append(rng.choice(ASKS))
    if rng.random() < 0.4:
        parts.append(rng.choice(CLOSINGS))
    text = _join(rng, parts)
    if rng.random() < 0.15:
        text = _typo(rng, text)
    if rng.random() < 0.2:
        text += rng.choice(EMOJI)
    return text


def _crisis(rng: random.Random) -> str:
    ramble = _join(rng, rng.sample(DISTRESS, rng.choice((1, 2, 3))))
    text = rng.choice(CRISES).format(x=ramble)
    if rng.random() < 0.5:
        text = rng.choice(GREETINGS) + "，" + text
    return text


def first_messages(n: int, seed: int = SEED) -> list[str]:
    """``n`` different first messages, about :data:`CRISIS_SHARE` of them crises (at least one when
    ``n`` is 50 or more), in a seeded order."""
    rng = random.Random(seed)
    crises = round(n * CRISIS_SHARE)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        text = _crisis(rng) if len(out) < crises else _ordinary(rng)
        if text in seen:
            continue
        seen.add(text)
        out.append(text)
    rng.shuffle(out)
    return out


def is_planted_crisis(text: str) -> bool:
    """Whether ``text`` is one of the crisis messages :func:`first_messages` plants."""
    return any(marker in text for marker in ("不想活了", "去死一死", "安眠藥", "想自殺", "在頂樓"))
