"""Weak sentiment labeller for financial text: lexicon scores, negation and a hand list of event phrases.

It makes silver training labels, nothing else: a lexicon cannot read context, so a text gets a label
only where the evidence is strong and one-sided (``label`` returns None otherwise). Event phrases
come first because the lexicons misread them ("申请破产保护": 保护 is listed positive; "profit
warning": profit is positive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.models.lexicons import Lexicon

EVENT_WEIGHT = 3.0

EN_EVENTS: tuple[tuple[str, float], ...] = (
    (r"\bbeats? (?:\w+ )?(?:forecasts?|expectations|estimates)", 1), (r"\brecord (?:profits?|sales|earnings|high|year)", 1),
    (r"\braises? (?:its )?(?:guidance|forecasts?|dividend|outlook)", 1), (r"\b(?:back|returns?|returned) to profit", 1),
    (r"\b(?:profits?|sales|earnings|shares?|revenues?|output|exports|growth|stocks?) (?:\w+ )?(?:rise|rises|rose|jump|jumps|jumped|soar|soars|soared|surge|surges|surged|climb|climbs|climbed|doubled?|rebound|rebounds|rebounded)\b", 1),
    (r"\bupgrade[sd]?\b", 1), (r"\bwins? (?:a |an |the )?(?:\w+ )?(?:contract|order|deal|approval)", 1),
    (r"\b(?:approved|approves|approval)\b", 1), (r"\brescued?\b", 1), (r"\bfunding\b", 0.5),
    (r"\bfiles? for bankruptcy(?: protection)?|\bbankrupt(?:cy)?(?: protection)?\b|\binsolven", -1), (r"\bdefaults? on\b|\bdefaulted\b", -1),
    (r"\bdowngrade[sd]?\b|\bjunk\b", -1), (r"\bprofits? warning|\bwarns? (?:of|on|over)\b", -1),
    (r"\b(?:cut|cuts|cutting|axe|axes|axed|shed|sheds|shedding|lose|loses|lost)\b (?:[\w,.']+ ){0,3}jobs\b|\bjob (?:cuts|losses)|\blay(?:s|ing)? off\b|\blayoffs?\b|\bredundanc", -1),
    (r"\bfraud|\bembezzl|\bbrib", -1), (r"\bprobe[sd]?\b|\binvestigat|\bcharged\b|\bcharges\b|\bindict", -1),
    (r"\bfined?\b|\bpenalt|\bsettlement\b", -1), (r"\brecalls?\b|\brecalled\b", -1), (r"\bsues?\b|\bsued\b|\blawsuit", -1),
    (r"\b(?:profits?|sales|earnings|shares?|revenues?|output|exports|growth|stocks?|prices?) (?:\w+ )?(?:fall|falls|fell|drop|drops|dropped|slump|slumps|slumped|plunge|plunges|plunged|slide|slides|slid|tumble|tumbles|tumbled|dip|dips|dipped)\b", -1),
    (r"\brecession\b|\bslowdown\b|\bdeficit\b", -1), (r"\bunemployment (?:rises|rose|up)|\bjobless (?:rate|total) (?:rises|rose|up|at)", -1),
)
ZH_EVENTS: tuple[tuple[str, float], ...] = (
    (r"申请破产|破产保护|破产重整|破产清算", -1), (r"立案调查|遭调查|被调查|被查|接受调查|留置", -1),
    (r"违约|爆雷|暴雷|逾期|兑付困难|跑路|失联", -1), (r"跌停|闪崩|暴跌|大跌|重挫|跳水", -1),
    (r"评级(?:遭|被)?下调|下调评级|降级", -1), (r"裁员|减员|欠薪|拖欠工资", -1), (r"召回", -1),
    (r"罚款|罚没|罚单|处罚|警示函|问询", -1), (r"诈骗|骗局|非法集资|传销|造假|虚假宣传|内幕交易", -1),
    (r"受贿|贪污|挪用|落马|获刑|被捕|刑拘", -1), (r"亏损|巨亏|预亏|(?:净利润?|营收|收入|业绩)[^，。]{0,6}(?:下降|下滑|减少|下跌|腰斩)", -1),
    (r"减持|退市|停牌|被冻结|查封", -1),
    (r"涨停|大涨|飙升|暴涨|强势|走强|创新高|历史新高", 1), (r"扭亏|预增|大增|翻番|超预期|增长\d", 1),
    (r"(?:净利润?|营收|收入|业绩|销量|出口)[^，。]{0,6}(?:增长|上升|提升|增加|大增)", 1),
    (r"降准|降息|减税|利好", 1), (r"评级上调|上调评级|增持|回购", 1), (r"获批|中标|签约|订单|落地|落户|开工", 1),
    (r"融资|战略投资|入股|领投|投资\d", 1),
)
EN_NEGATORS = frozenset("not no never without neither nor hardly fails fail failed".split())
ZH_NEGATORS = ("没有", "并非", "不再", "未能", "难以", "不", "未", "没", "无", "非")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True, slots=True)
class Evidence:
    """Positive and negative mass found in a text, and how many lexicon or event hits made it."""

    positive: float
    negative: float
    hits: int

    @property
    def score(self) -> float:
        """Net polarity."""
        return self.positive - self.negative


def _events(text: str, events: tuple[tuple[str, float], ...]) -> tuple[float, float, int, str]:
    pos = neg = 0.0
    hits = 0
    for pattern, sign in events:
        for m in re.finditer(pattern, text):
            hits += 1
            if sign > 0:
                pos += EVENT_WEIGHT * sign
            else:
                neg += EVENT_WEIGHT * -sign
            # blank the phrase so its words are not scored again by the lexicon
            text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end():]
    return pos, neg, hits, text


def _stem(word: str, scores: dict[str, float]) -> float | None:
    # the lexicons list base forms; headlines inflect ("profits", "cuts", "raised")
    for cand in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith(("es", "ed")) else "",
                 word[:-1] if word.endswith("ed") else "", word[:-3] if word.endswith("ing") else ""):
        if cand and cand in scores:
            return scores[cand]
    return None


def evidence_en(text: str, lexicon: Lexicon) -> Evidence:
    """Event phrases, then lexicon words; a negator up to three words before a word flips it."""
    pos, neg, hits, rest = _events(text.lower(), EN_EVENTS)
    words = _WORD.findall(rest)
    for i, word in enumerate(words):
        value = _stem(word, lexicon.scores)
        if not value:
            continue
        if any(w in EN_NEGATORS or w.endswith("n't") for w in words[max(0, i - 3) : i]):
            value = -value
        hits += 1
        if value > 0:
            pos += value
        else:
            neg -= value
    return Evidence(pos, neg, hits)


def evidence_zh(text: str, lexicon: Lexicon, longest: int = 8) -> Evidence:
    """Event phrases, then forward longest-match over the lexicon; a negator just before a term flips it."""
    pos, neg, hits, rest = _events(text, ZH_EVENTS)
    i, negate_until = 0, -1
    while i < len(rest):
        for n in range(min(longest, len(rest) - i), 0, -1):
            term = rest[i : i + n]
            if term in lexicon.scores:
                value = lexicon.scores[term] * (-1 if i <= negate_until else 1)
                hits += 1
                if value > 0:
                    pos += value
                else:
                    neg -= value
                i += n
                break
        else:
            neg_word = next((w for w in ZH_NEGATORS if rest.startswith(w, i)), None)
            if neg_word:
                negate_until = i + len(neg_word) + 2  # covers the next term when it starts within two chars
                i += len(neg_word)
            else:
                i += 1
    return Evidence(pos, neg, hits)


def label(ev: Evidence, threshold: float, dominance: float = 3.0) -> str | None:
    """``positive`` / ``negative`` when the net score passes ``threshold`` and one side outweighs the
    other ``dominance`` times; ``neutral`` when nothing at all was found; otherwise None (not confident)."""
    if ev.hits == 0:
        return "neutral"
    if ev.score >= threshold and ev.positive >= dominance * ev.negative:
        return "positive"
    if -ev.score >= threshold and ev.negative >= dominance * ev.positive:
        return "negative"
    return None
