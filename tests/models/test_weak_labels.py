"""The weak sentiment labeller: event phrases before lexicon words, negation, confidence gate."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.models import weak
from monitor.models.lexicons import Lexicon

EN = Lexicon({"profit": 3.2, "growth": 2.8, "loss": -3.0, "protection": 1.0, "strong": 2.0, "warning": -1.0}, ())
ZH = Lexicon({"增长": 1.0, "保护": 1.0, "亏损": -1.0, "利好": 1.0, "风险": -1.0}, ())


@pytest.mark.parametrize(("text", "want"), [
    ("Chipmaker beats earnings forecasts and raises full-year guidance", "positive"),
    ("Property developer defaults on dollar bond, shares suspended", "negative"),
    ("Retailer issues profit warning", "negative"),  # "profit" alone would read positive
    ("Steel firm to cut 45,000 jobs", "negative"),
    ("Bank files for bankruptcy protection", "negative"),  # "protection" is listed positive
    ("Profit growth is strong", "positive"),
    ("Growth is not strong", None),  # the negated word cancels the other one: not confident
    ("The board met on Tuesday", "neutral"),  # nothing found at all
])
def test_english_labels(text: str, want: str | None) -> None:
    assert weak.label(weak.evidence_en(text, EN), threshold=2.5) == want


def test_english_negation_flips_the_word_after_it() -> None:
    plain = weak.evidence_en("profit", EN)
    negated = weak.evidence_en("no profit", EN)
    assert plain.score > 0 > negated.score


@pytest.mark.parametrize(("text", "want"), [
    ("某券商上半年营收创新高，净利润翻番", "positive"),
    ("芯片企业扭亏为盈，全年业绩预增", "positive"),
    ("电池厂商获得海外大额订单，股价应声上涨", "positive"),
    ("地产公司申请破产保护", "negative"),  # 保护 is a positive lexicon word; the event wins
    ("上市公司涉嫌信披违规被立案调查", "negative"),
    ("公司发布年度报告", "neutral"),
])
def test_chinese_labels(text: str, want: str | None) -> None:
    assert weak.label(weak.evidence_zh(text, ZH), threshold=2.0) == want


def test_chinese_negator_flips_the_next_term() -> None:
    assert weak.evidence_zh("增长", ZH).score > 0
    assert weak.evidence_zh("没有增长", ZH).score < 0


def test_mixed_evidence_is_not_confident() -> None:
    ev = weak.Evidence(positive=4.0, negative=3.0, hits=2)
    assert weak.label(ev, threshold=0.5) is None


def test_silver_rows_need_financial_text_and_neutral_is_capped() -> None:
    from monitor.models import silver

    texts = [(f"shares rose {i}", "s") for i in range(6)] + [(f"shares fell {i}", "s") for i in range(2)]
    texts += [(f"shares were traded {i}", "s") for i in range(10)] + [("the cat sat", "s"), ("shares rose 0", "dup")]
    lex = Lexicon({"rose": 3.0, "fell": -3.0}, ())
    rows = silver.label_texts(iter(texts), lambda t: weak.evidence_en(t, lex), 2.5, seed=1,
                              finance=silver.EN_FINANCE)
    counts = Counter(r.label for r in rows)
    assert counts == {"positive": 6, "negative": 2, "neutral": 4}  # neutral: mean of the polar classes
    assert all("cat" not in r.text for r in rows) and len({r.text for r in rows}) == len(rows)
