"""Objects built from settings that more than one tier needs (kept apart from the daemon, so a
tier that runs no models never imports them)."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.settings import Settings
from monitor.trends import BaselineConfig, TrendConfig


def trend_config(settings: Settings) -> TrendConfig:
    """The trend store's configuration from settings; retention covers the longest rule window."""
    t = settings.trends
    longest = max((r.window_seconds for r in settings.rules), default=0.0)
    return TrendConfig(
        bucket_seconds=t.bucket_seconds,
        allowed_lateness_seconds=t.allowed_lateness_seconds,
        idle_partition_seconds=t.idle_partition_seconds,
        retention_seconds=max(t.retention_seconds, 2 * longest),
        dedup_window_seconds=t.dedup_window_seconds,
        dedup_max_distance=t.dedup_max_distance,
        dedup_max_entries=t.dedup_max_entries,
        baseline=BaselineConfig(
            bucket_seconds=t.bucket_seconds, halflife_buckets=t.halflife_buckets,
            share_halflife_buckets=t.share_halflife_buckets, warmup_buckets=t.warmup_buckets,
            profile_after_days=1.0 if t.seasonal_profile else float("inf"),
            weekly=t.seasonal_profile and t.weekly_profile, day_start_hour=t.day_start_utc_hour,
        ),
    )


def state_dir(settings: Settings) -> Path:
    """Where the trend checkpoint lives."""
    if settings.state.dir is not None:
        return settings.state.dir
    cache = Path(os.environ.get("MONITOR_CACHE_DIR", Path.home() / ".cache" / "textmon"))
    return cache / "state"
