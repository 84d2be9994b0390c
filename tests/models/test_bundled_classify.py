"""The shipped bundles give sensible labels to unmistakable headlines, in every precision the daemon offers."""

from __future__ import annotations

import pytest
import torch

from monitor.models.bundle import load_bundle
from monitor.models.loader import BUNDLED_DIR

CASES = {
    "en-news": [
        ("Manchester United beat Arsenal 2-0 to go top of the Premier League", "topic", "sport"),
        ("Stock markets tumble as oil prices hit a record high and profits fall", "topic", "business"),
        ("The prime minister called a general election after the party vote", "topic", "politics"),
        ("The actress won an Oscar for her role in the Hollywood film", "topic", "entertainment"),
        ("New broadband and mobile phone software lets users download music", "topic", "tech"),
        ("Worst airline ever, they lost my bag and cancelled my flight", "sentiment", "negative"),
        ("@united worst airline ever, they lost my bag and cancelled my flight", "topic", "other"),
        ("I love this, thank you so much, best service ever!", "sentiment", "positive"),
    ],
    "multilingual-news": [
        ("公司涉嫌财务造假被立案调查，股价暴跌，投资者损失惨重", "sentiment", "negative"),
        ("皇马2比0击败巴萨，夺得联赛冠军", "topic", "sport"),
        ("央行宣布降息，股市大涨，银行股领涨", "topic", "business"),
        ("酒店房间很脏，服务员态度很差，再也不会住了", "topic", "other"),  # a review belongs to no news topic
        ("这款手机电池太不耐用了，充一次电用不了半天", "topic", "other"),
    ],
}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_unmistakable_headlines(name: str, precision: str) -> None:
    backend = load_bundle(BUNDLED_DIR / name, torch.device("cpu"), precision)
    texts = [t for t, _, _ in CASES[name]]
    probs = backend.forward(backend.encode(texts))
    got = [backend.info.tasks[task][int(probs[task][i].argmax())] for i, (_, task, _) in enumerate(CASES[name])]
    assert got == [want for _, _, want in CASES[name]]
