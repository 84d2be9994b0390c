"""Per-topic trends over event time: buckets, windows, baselines, near-duplicates, terms."""

from monitor.trends.baseline import BaselineConfig, TopicBaseline
from monitor.trends.store import ALL, AddResult, Bucket, TrendConfig, TrendStore, WindowStats

__all__ = ["ALL", "AddResult", "BaselineConfig", "Bucket", "TopicBaseline", "TrendConfig", "TrendStore", "WindowStats"]
