"""Session-wide fixtures: a real Kafka broker, tiny models, settings builders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.kafka import Broker
from tests.support.tiny_models import SENTIMENTS, TOPICS, build_tiny_classifier

# No hub access at run time, ever.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Property tests assert behaviour, not speed (bench/ measures speed): no per-example time limit,
# which a slower or busy machine would turn into failures.
settings.register_profile("textmon", deadline=None)
settings.load_profile("textmon")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One Apache Kafka broker (KRaft) for the whole session."""
    port = int(os.environ.get("TEST_KAFKA_PORT", "29092"))
    b = Broker(port=port, data=tmp_path_factory.mktemp("kafka"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-weight classifiers: free ones, and ones pinned to 'business' and 'negative'."""
    root = tmp_path_factory.mktemp("models")
    return {
        "topic": build_tiny_classifier(root / "topic", TOPICS, seed=1),
        "sentiment": build_tiny_classifier(root / "sentiment", SENTIMENTS, seed=2),
        "topic_business": build_tiny_classifier(root / "topic-business", TOPICS, pinned="business"),
        "sentiment_negative": build_tiny_classifier(root / "sentiment-negative", SENTIMENTS, pinned="negative"),
    }
