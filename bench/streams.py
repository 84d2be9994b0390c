"""Message-level streams of real texts with a daily cycle, and events injected into them.

A stream is days of messages, each a real text from a pool (``bench/texts.py``) under the topic
the shipped model gives it: news per topic at its own rate, chat on top, busy afternoons and
quiet nights (UTC), syndicated copies of recent stories now and then. Each topic cycles through
its own shuffled texts, so a text comes back only after hours, as resampled real traffic would.
Events are written beside the stream as ``KnownEvent`` records, the same file format that
``monitor backtest --events`` reads:

* alert expected: volume x2 / x3 / x5 for 30 minutes; the negative share 20 points up for 30
  minutes at flat volume (these two, volume x3 and the share, are the kinds the detection bar
  speaks of, "on a topic with at least one message a minute": they are placed only where the
  topic's usual traffic, news and chat, holds that rate all event long; the others fall on any
  busy topic, quiet ones included); a slow slide of the negative share over three hours; an emerging
  topic (one that only chat feeds, a fraction of a message a minute, gets five stories a minute
  for an hour);
* no alert expected: one story copied 50 times in ten minutes; a topic silent for an hour,
  then back; a quieter day (every topic at 60 %, from midnight), as on a weekend, scored on its
  morning and on the next, when volume is back.

Where an event raises the negative share, negative texts (as the model reads them) take the
place of others of the same topic, so volume stays flat. An event acts on everything the model
files under its topic, news and chat alike: on a topic that chat feeds (``other``) a share event
swaps chat for negative chat, a volume event multiplies the chat too, and silence silences it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Iterator

from bench.texts import Text
from monitor.scoring import KnownEvent

DAY = 86400.0
START = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
CHAT_PEAK_PER_MINUTE = 4.0
EMERGING_PER_MINUTE = 5.0
QUIET_DAY = 0.6  # a weekend's share of a weekday's volume
SYNDICATION_SHARE = 0.03  # of news messages, a copy of a story from the last few minutes
BAR_KINDS = ("volume-x3", "negative-share")  # placed where the topic's usual rate is at least BAR_RATE
BAR_RATE = 1.0  # messages a minute


def activity(t: float) -> float:
    """Relative traffic by hour of day: about a tenth at night, all of it mid-afternoon."""
    hour = (t % DAY) / 3600.0
    day = max(0.0, math.sin(math.pi * (hour - 6.0) / 16.0)) if 6.0 <= hour <= 22.0 else 0.0
    return 0.1 + 0.9 * day**1.5


@dataclass(slots=True)
class Stream:
    """Messages in event-time order and the events injected into them."""

    lang: str
    seed: int
    days: float
    topics: tuple[str, ...]
    messages: list[tuple[float, Text]]
    events: list[KnownEvent]

    @property
    def start(self) -> float:
        return START

    @property
    def end(self) -> float:
        return START + self.days * DAY


class _Cycle:
    """A pool's texts in a shuffled order, reshuffled when used up."""

    def __init__(self, texts: list[Text], rng: random.Random) -> None:
        self.texts, self.rng, self.i = list(texts), rng, len(texts)

    def next(self) -> Text:
        if self.i >= len(self.texts):
            self.rng.shuffle(self.texts)
            self.i = 0
        self.i += 1
        return self.texts[self.i - 1]


def _poisson_times(rng: random.Random, rate_per_minute: float, t0: float, t1: float) -> Iterator[float]:
    """Arrival times of a Poisson process with a piecewise constant rate (per minute) in [t0, t1)."""
    t = t0
    while t < t1:
        minute_end = min(t1, (math.floor(t / 60.0) + 1) * 60.0)
        n = _poisson(rng, rate_per_minute * (minute_end - t) / 60.0)
        yield from sorted(rng.uniform(t, minute_end) for _ in range(n))
        t = minute_end


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _plan_events(rng: random.Random, topics: list[str], rare: str, days: float,
                 usual_rate: Callable[[str, float], float]) -> list[KnownEvent]:
    """Every kind once, on days 2 and later, in working hours, no two within an hour of each other;
    the ``BAR_KINDS`` only on a topic whose ``usual_rate`` (messages a minute) stays at ``BAR_RATE``
    or more through the event."""
    kinds: list[tuple[str, float, bool]] = [  # (kind, minutes, alert expected)
        ("slow-slide", 240, True), ("volume-x2", 30, True), ("volume-x3", 30, True), ("volume-x5", 30, True),
        ("negative-share", 30, True), ("emerging", 60, True), ("syndicated", 10, False), ("silence", 60, False),
    ]
    slots = [START + d * DAY + h * 3600.0 for d in range(1, int(days)) for h in (8, 10, 12, 14, 16, 18, 20)]
    rng.shuffle(slots)
    busy = [t for t in topics if t != rare]
    events: list[KnownEvent] = []
    for kind, minutes, alert in kinds:
        for start in slots:
            if kind == "slow-slide":
                start = math.floor(start / DAY) * DAY + 9 * 3600.0  # through a working day's afternoon
            end = start + minutes * 60.0
            if not all(start >= e.end + 3600 or end + 3600 <= e.start for e in events):
                continue
            eligible = busy
            if kind in BAR_KINDS:
                minutes_in = [start + 60.0 * i for i in range(minutes)]
                eligible = [t for t in busy if min(usual_rate(t, m) for m in minutes_in) >= BAR_RATE]
                if not eligible:
                    continue
            topic = rare if kind == "emerging" else rng.choice(eligible)
            events.append(KnownEvent(kind, topic, start, end, alert))
            break
    # the quieter day is scored where a change of daily volume could alert: each morning's rise, the
    # quiet one and the next (a whole day would also count every background false alarm of that day)
    quiet = quiet_day(days)
    for morning in (quiet, quiet + DAY):
        events.append(KnownEvent("weekday-volume", "*", morning + 6 * 3600.0, morning + 12 * 3600.0, False))
    return sorted(events, key=lambda e: e.start)


def quiet_day(days: float) -> float:
    """Midnight starting the day on which every topic runs at ``QUIET_DAY`` of its volume."""
    return START + (int(days) - 2) * DAY


def build_stream(pools: dict[str, list[Text]], lang: str, seed: int, days: float = 4.0,
                 peak_per_minute: float = 10.0, weekend: float | None = None) -> Stream:
    """Days of traffic for one language with events; deterministic for a seed. ``weekend``: Saturdays
    and Sundays (the stream starts on a Monday) carry that share of a weekday's volume."""
    rng = random.Random(f"{lang}-{seed}")
    news = pools[f"{lang}-news"]
    by_topic: dict[str, list[Text]] = {}
    for text in news:
        by_topic.setdefault(text.topic, []).append(text)
    topics = sorted(by_topic, key=lambda k: -len(by_topic[k]))
    largest = len(by_topic[topics[0]])
    # the topic that emerges: the one that chat (filed under topics by the model) feeds least, so that
    # with its news silenced it is nearly silent
    chat_share = {t: sum(1 for x in pools[f"{lang}-chat"] if x.topic == t) for t in topics}
    rare = min(topics, key=lambda t: (chat_share[t], t))
    # news per topic in proportion to its pool; the smallest topic nearly silent (it is the one that emerges)
    peak = {t: (0.03 if t == rare else max(1.5, peak_per_minute * len(by_topic[t]) / largest)) for t in topics}
    cycles = {t: _Cycle(by_topic[t], rng) for t in topics}
    negatives = {t: _Cycle([x for x in by_topic[t] if x.sentiment == "negative"], rng) for t in topics}
    chat = _Cycle(pools[f"{lang}-chat"], rng)
    chat_by_topic = {t: [x for x in pools[f"{lang}-chat"] if x.topic == t] for t in topics}
    chat_cycles = {t: _Cycle(texts, rng) for t, texts in chat_by_topic.items() if texts}
    chat_negatives = {t: _Cycle(neg, rng) for t, texts in chat_by_topic.items()
                      if (neg := [x for x in texts if x.sentiment == "negative"])}
    quiet = quiet_day(days)
    chat_rate = {t: CHAT_PEAK_PER_MINUTE * len(chat_by_topic[t]) / max(1, len(pools[f"{lang}-chat"])) for t in topics}

    def day_scale(t: float) -> float:
        """The day's share of a weekday's volume: the quiet day's, a weekend's."""
        scale = QUIET_DAY if quiet <= t < quiet + DAY else 1.0
        if weekend is not None and int((t - START) // DAY) % 7 >= 5:
            scale *= weekend
        return scale

    def usual_rate(topic: str, t: float) -> float:
        """A topic's expected messages a minute at ``t`` with no event: its news and its share of the chat."""
        return (peak[topic] + chat_rate[topic]) * activity(t) * day_scale(t)

    events = _plan_events(rng, topics, rare, days, usual_rate)
    messages: list[tuple[float, Text]] = []
    recent: list[Text] = []
    stories: dict[KnownEvent, Text] = {}
    end = START + days * DAY
    for minute_start in range(int(START), int(end), 60):
        t0 = float(minute_start)
        scale = activity(t0) * day_scale(t0)
        active = [e for e in events if e.start <= t0 < e.end]
        for topic in topics:
            rate = peak[topic] * scale
            ev = {e.kind: e for e in active if e.topic == topic}
            if "silence" in ev:
                continue
            if "emerging" in ev:
                rate = EMERGING_PER_MINUTE
            rate *= _volume_factor(ev)
            swap = _negative_swap(ev, t0, by_topic[topic])
            for t in _poisson_times(rng, rate, t0, t0 + 60):
                text = negatives[topic].next() if swap and rng.random() < swap else cycles[topic].next()
                if recent and rng.random() < SYNDICATION_SHARE:
                    text = _copy(rng.choice(recent[-50:]), rng)
                messages.append((t, text))
                recent.append(text)
            if "syndicated" in ev:
                story = stories.setdefault(ev["syndicated"], negatives[topic].next())  # one story, all event long
                for t in _poisson_times(rng, 5.0, t0, t0 + 60):
                    messages.append((t, _copy(story, rng)))
        for t in _poisson_times(rng, CHAT_PEAK_PER_MINUTE * scale, t0, t0 + 60):
            text = chat.next()
            ev = {e.kind: e for e in active if e.topic == text.topic}
            if not ev:
                messages.append((t, text))
                continue
            if "silence" in ev:
                continue
            # the chat filed under an event's topic takes part in it: more of it, or more of it negative
            swap = _negative_swap(ev, t0, chat_by_topic[text.topic])
            for k in range(_volume_factor(ev)):
                if k:
                    text = chat_cycles[text.topic].next()
                if swap and text.topic in chat_negatives and rng.random() < swap:
                    text = chat_negatives[text.topic].next()
                messages.append((t if not k else rng.uniform(t0, t0 + 60), text))
        del recent[:-200]
    messages.sort(key=lambda m: m[0])
    return Stream(lang, seed, days, tuple(topics), messages, events)


def _volume_factor(ev: dict[str, KnownEvent]) -> int:
    """How many times its usual volume a topic carries during its events."""
    factor = 1
    for kind, times in (("volume-x2", 2), ("volume-x3", 3), ("volume-x5", 5)):
        if kind in ev:
            factor *= times
    return factor


def _negative_swap(ev: dict[str, KnownEvent], t0: float, texts: list[Text]) -> float:
    """The chance that a message is replaced by a negative one of the same topic during a share event."""
    base = sum(1 for x in texts if x.sentiment == "negative") / max(1, len(texts))
    rise = 0.0
    if "negative-share" in ev:
        rise = 0.20
    elif "slow-slide" in ev:
        e = ev["slow-slide"]
        ramp = (e.end - e.start) * 0.75  # three hours up, then an hour at the top
        rise = 0.25 * min(1.0, (t0 - e.start) / ramp)
    return rise / (1.0 - base) if rise else 0.0


_ATTRIBUTIONS = (" - Reuters", " | AP", " — Bloomberg", " (AFP)", " - wire", "")


def _copy(text: Text, rng: random.Random) -> Text:
    """A syndicated copy: the same story with another outlet's attribution."""
    suffix = rng.choice(_ATTRIBUTIONS) if text.lang == "en" else rng.choice(("", "（新华社）", "——财经网", "（记者）"))
    return Text(text.text + suffix, text.lang, text.source, text.topic, text.sentiment, text.prediction)
