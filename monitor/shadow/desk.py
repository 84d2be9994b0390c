"""Shadow, then promote: the daemon's one object for a candidate model beside the live one.

The daemon calls ``attach`` once the live models are loaded, ``pick`` for each batch it is about
to classify (the candidate, when the batch is on its route and sampled), ``observe`` with both
sides' predictions, and hands ``switch`` (its own: swap the live classifier between batches) at
construction. Promotion and rollback go through ``promote`` / ``rollback``, which the HTTP API
(``monitor.shadow.api``) calls. Candidate predictions are compared and judged here, never published.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Awaitable, Callable, Sequence

from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models.classifier import Classifier
from monitor.records import Enriched, Prediction
from monitor.settings import CandidateSettings, Settings
from monitor.shadow.compare import Comparison
from monitor.shadow.judgement import ShadowJudgement
from monitor.shadow.lineup import Candidate, Lineup, LineupError, load_candidate
from monitor.shadow.sampler import BatchSampler
from monitor.trends.store import TextFeatures

log = get_logger(__name__)
Switch = Callable[[Classifier], Awaitable[int]]  # makes a classifier live between batches; returns the last batch before
SWITCHES_KEPT = 20


def build_info(version: str, classifier: Classifier) -> dict[str, str]:
    """``textmon_build_info``'s labels: the daemon's version, precision and each route's models."""
    return {"version": version, "precision": classifier.precision,
            **{f"{r}_{t}": m for r, ts in classifier.describe().items() for t, m in ts.items()}}


class ShadowDesk:
    """The lineup of models, the candidate's comparison with the live one, and the switches made."""

    def __init__(self, settings: Settings, metrics: Metrics, switch: Switch, version: str) -> None:
        self.settings = settings
        self.metrics = metrics
        self.switch = switch
        self.version = version
        self.lineup: Lineup | None = None
        self.comparison = Comparison()
        self.judgement = ShadowJudgement(settings)
        self.sampler: BatchSampler | None = None
        self.batches = self.errors = 0
        self.live_seconds = self.shadow_seconds = 0.0  # inference time of the sampled batches, each side
        self.switches: deque[dict[str, Any]] = deque(maxlen=SWITCHES_KEPT)
        self._busy = asyncio.Lock()  # one load or switch at a time
        self._loading = False  # a candidate's models are being loaded
        self._drops = 0  # drops so far: a load that a drop overtook is discarded when it ends

    def attach(self, live: Classifier) -> None:
        """The live models are loaded."""
        self.lineup = Lineup(live)
        self.metrics.build_info.info(build_info(self.version, live))

    # -- the candidate ---------------------------------------------------------------------------
    async def load(self, spec: CandidateSettings, via: str) -> Candidate:
        """Load ``spec`` in a thread (the live pipeline goes on) and put it in shadow, replacing any candidate."""
        lineup = self._lineup()
        b = self.settings.batch
        async with self._busy:
            drops, self._loading = self._drops, True
            try:
                candidate = await asyncio.to_thread(load_candidate, spec, lineup.live, self.settings.models,
                                                    b.max_size, b.max_tokens, via)
            finally:
                self._loading = False
            if self._drops != drops:
                log.info("candidate discarded: dropped while it loaded", models=candidate.models, via=via)
                raise LineupError("candidate", "dropped while it was loading", 409)
            lineup.candidate = candidate
            self._reset(spec.sample_rate)
        log.info("candidate in shadow", route=candidate.route, models=candidate.models, sample_rate=spec.sample_rate, via=via)
        return candidate

    def drop(self) -> bool:
        """Stop shadowing, and discard a candidate still loading; False when there was neither."""
        lineup = self._lineup()
        had = lineup.candidate is not None or self._loading
        self._drops += 1
        lineup.candidate = None
        self._reset(None)
        if had:
            log.info("candidate dropped")
        return had

    def _reset(self, rate: float | None) -> None:
        self.comparison = Comparison()
        self.judgement = ShadowJudgement(self.settings)
        self.sampler = BatchSampler(rate) if rate is not None else None
        self.batches = self.errors = 0
        self.live_seconds = self.shadow_seconds = 0.0
        self.metrics.shadow_sample_rate.set(rate or 0.0)
        for task in ("topic", "sentiment"):
            self.metrics.shadow_agreement.labels(task).set(float("nan"))

    def pick(self, route: str) -> Classifier | None:
        """The candidate, when it shadows ``route`` and this batch is sampled (on the event loop)."""
        lineup = self.lineup
        c = lineup.candidate if lineup is not None else None
        if c is None or c.route != route or self.sampler is None or not self.sampler.take():
            return None
        return c.classifier

    def observe(self, by: Classifier | None, live: Sequence[Enriched], candidate: Sequence[Prediction],
                features: Sequence[TextFeatures], live_seconds: float, shadow_seconds: float) -> None:
        """A sampled batch classified by both (``by``: the candidate ``pick`` gave): compare, judge both
        sides, count (on the event loop)."""
        c = self.lineup.candidate if self.lineup is not None else None
        if c is None or c.classifier is not by:
            return  # dropped, promoted or replaced while the batch was classified: not this candidate's
        m = self.metrics
        self.batches += 1
        self.live_seconds += live_seconds
        self.shadow_seconds += shadow_seconds
        m.shadow_messages.inc(len(live))
        m.shadow_seconds.observe(shadow_seconds)
        for (task, a, b), n in self.comparison.observe([e.prediction for e in live], candidate).items():
            m.shadow_predictions.labels(task, a, b).inc(n)
        for task, ratio in self.comparison.agreement().items():
            m.shadow_agreement.labels(task).set(ratio)
        theirs = [Enriched(e.message, p, e.classified_at) for e, p in zip(live, candidate)]
        for side, alerts in self.judgement.observe(live, theirs, features).items():
            for alert in alerts:
                m.shadow_alerts.labels(side, alert.rule, alert.state.value).inc()

    def failed(self, error: BaseException) -> None:
        """The candidate raised on a batch: counted and logged; the live records go on unaffected."""
        self.errors += 1
        self.metrics.shadow_errors.inc()
        log.warning("candidate failed on a batch; live output unaffected", error=repr(error)[:500])

    # -- switches --------------------------------------------------------------------------------
    async def promote(self, version: str) -> dict[str, Any]:
        """Make the candidate that runs ``version`` live, between batches."""
        lineup = self._lineup()
        async with self._busy:
            live, route = lineup.promotion(version)
            agreement = self.comparison.agreement()
            record = await self._switch("promote", live, route)
            record["agreement"] = agreement
            lineup.promoted(live)
            self._reset(None)
        return record

    async def rollback(self) -> dict[str, Any]:
        """Make the classifier live before the last switch live again, between batches."""
        lineup = self._lineup()
        async with self._busy:
            previous = lineup.rollback()
            changed = [r for r in previous.routes if previous.routes[r] is not lineup.live.routes.get(r)]
            record = await self._switch("rollback", previous, changed[0] if changed else "default")
            lineup.rolled_back()
        return record

    async def _switch(self, action: str, live: Classifier, route: str) -> dict[str, Any]:
        lineup = self._lineup()
        before, after = lineup.live.describe()[route], live.describe()[route]
        last_batch = await self.switch(live)
        record = {"action": action, "at": time.time(), "route": route, "from": before, "to": after,
                  "after_batch": last_batch}
        self.switches.append(record)
        self.metrics.model_switches.labels(action).inc()
        self.metrics.build_info.info(build_info(self.version, live))
        log.info("models switched", action=action, route=route, previous=before, live=after, after_batch=last_batch)
        return record

    def _lineup(self) -> Lineup:
        if self.lineup is None:
            raise LineupError("models", "the live models are still loading", 503)
        return self.lineup

    def to_json(self) -> dict[str, Any]:
        """``/api/shadow``: the models in play, the comparison, both sides' alerts, what shadow costs, the switches."""
        lineup = self.lineup
        c = lineup.candidate if lineup is not None else None
        return {
            "live": lineup.live.describe() if lineup is not None else {},
            "candidate": c.to_json() if c is not None else None,
            "previous": lineup.previous.describe() if lineup is not None and lineup.previous is not None else None,
            "comparison": {**self.comparison.to_json(), "batches": self.batches, "errors": self.errors},
            "alerts": self.judgement.to_json(),
            "cost": {"live_seconds": round(self.live_seconds, 6), "shadow_seconds": round(self.shadow_seconds, 6),
                     "ratio": round(self.shadow_seconds / self.live_seconds, 4) if self.live_seconds else None},
            "switches": list(self.switches),
        }
