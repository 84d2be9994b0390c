"""How many messages may be in flight (fetched, not yet done) before fetching pauses.

A fixed count suits one machine only. The pipeline holds messages while they are fetched,
tokenised, gathered into length-sorted batches, classified and acknowledged, so the count it
needs grows with its rate: at 370 messages a second (a full encoder on two CPU cores) 2,048 is
five seconds of work, while with the encoder's arithmetic almost free (an accelerator; the
benchmark's encoders cut to no layers on the same cores) 2,048 in flight held the daemon to
4,300-5,100 messages a second and 8,192 let it reach 5,800-6,300 (medians of interleaved runs,
bench/README.md).

``auto`` therefore allows about ``AUTO_SECONDS`` of work at the rate messages were recently
completed, never fewer than ``AUTO_FLOOR`` (the batcher sorts windows of that size under a
backlog) and never more than ``AUTO_CEILING``. Holding seconds rather than messages also keeps
what a stop must drain, or a crash redeliver, about the same on every machine.
"""

from __future__ import annotations

from collections import deque

AUTO_SECONDS = 2.0
AUTO_FLOOR = 2048
AUTO_CEILING = 65_536
RATE_WINDOW_SECONDS = 10.0  # the completion rate is measured over about this long
MIN_SPAN_SECONDS = 1.0  # and only once samples span at least this


class InFlightLimit:
    """The in-flight cap: ``fixed`` messages, or (``fixed`` None) about ``AUTO_SECONDS`` of work."""

    def __init__(self, fixed: int | None) -> None:
        self.fixed = fixed
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, messages completed so far)
        self._limit = fixed if fixed is not None else AUTO_FLOOR

    @property
    def ceiling(self) -> int:
        """The most it can ever allow."""
        return self.fixed if self.fixed is not None else AUTO_CEILING

    @property
    def limit(self) -> int:
        """The cap now."""
        return self._limit

    def update(self, completed: int, now: float) -> int:
        """Note that ``completed`` messages have been done in all by time ``now``; return the cap."""
        if self.fixed is not None:
            return self.fixed
        samples = self._samples
        if samples and now - samples[-1][0] < 0.1:
            return self._limit  # sampled often enough: the fetch loop calls this on every poll
        samples.append((now, completed))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_SECONDS:
            samples.popleft()
        then, before = samples[0]
        if now - then >= MIN_SPAN_SECONDS:
            rate = (completed - before) / (now - then)
            self._limit = max(AUTO_FLOOR, min(AUTO_CEILING, int(rate * AUTO_SECONDS)))
        return self._limit
