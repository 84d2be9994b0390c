"""The models in play: the live classifier, a candidate in shadow beside one of its routes, and
the classifier live before the last switch (what a rollback goes back to).

Loading a candidate blocks (a worker thread calls ``load_candidate``); the switches only decide
what becomes live and leave *when* to the caller, which swaps it in between batches. Knows
nothing of Kafka or HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from monitor.models.base import ModelLoadError
from monitor.models.classifier import Classifier, Route, model_id
from monitor.models.warmup import warm_up
from monitor.settings import CandidateSettings, ModelSet, ModelSettings


class LineupError(Exception):
    """A request the lineup cannot follow; ``field`` names what is wrong, ``status`` the HTTP answer."""

    def __init__(self, field_name: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.status = status


@dataclass(slots=True)
class Candidate:
    """A model set loaded beside the live route it would replace."""

    spec: CandidateSettings
    classifier: Classifier  # the live classifier with the candidate's route in place of the live one
    loaded_at: float = field(default_factory=time.time)
    via: str = "settings"  # or "api"

    @property
    def route(self) -> str:
        return self.spec.route

    @property
    def models(self) -> dict[str, str]:
        """Task -> ``name@version`` of the candidate's models."""
        return self.classifier.describe()[self.spec.route]

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "models": self.models, "sample_rate": self.spec.sample_rate,
                "loaded_at": self.loaded_at, "via": self.via}


def load_candidate(spec: CandidateSettings, live: Classifier, settings: ModelSettings, max_size: int, max_tokens: int,
                   via: str = "settings") -> Candidate:
    """Load (and warm up) a candidate's models for ``spec.route``; blocks. A model that cannot be loaded
    raises ``LineupError`` naming the field that points at it."""
    if spec.route not in live.routes:
        raise LineupError("route", f"{spec.route!r} is no live route; routes: {sorted(live.routes)}")
    try:
        route = Classifier.load_route(spec.route, ModelSet(bundle=spec.bundle, topic=spec.topic, sentiment=spec.sentiment),
                                      settings, live.precision)
    except ModelLoadError as exc:
        raise LineupError(_blamed(spec, str(exc)), str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a folder that is there but holds no loadable model: the request's fault
        raise LineupError(_blamed(spec, str(exc)), f"cannot load the model: {exc!r}"[:500]) from None
    missing = set(live.routes[spec.route].task_owner) - set(route.task_owner)
    if missing:
        raise LineupError("bundle", f"the candidate answers no {sorted(missing)}, which the live route does")
    warm_up(list(route.backends), max_size, max_tokens)
    return Candidate(spec, live.with_route(route), via=via)


def _blamed(spec: CandidateSettings, message: str) -> str:
    """The field whose model failed to load: the one whose path the error names, else the first set."""
    named = [f for f in ("bundle", "topic", "sentiment") if getattr(spec, f)]
    for f in named:
        if str(getattr(spec, f)) in message:
            return f
    return named[0] if named else "bundle"


def versions(route: Route) -> set[str]:
    """Every ``name@version`` a route runs."""
    return {model_id(b) for b in route.backends}


class Lineup:
    """Live, candidate and previous classifiers; ``promote`` and ``rollback`` say what goes live next."""

    def __init__(self, live: Classifier) -> None:
        self.live = live
        self.candidate: Candidate | None = None
        self.previous: Classifier | None = None

    def promotion(self, version: str) -> tuple[Classifier, str]:
        """The classifier that promoting ``version`` makes live, and the route it changes."""
        c = self.candidate
        if c is None:
            raise LineupError("version", "no candidate is loaded (POST /api/models/candidate, or models.candidate)", 409)
        offered = versions(c.classifier.routes[c.route])
        if version not in offered:
            raise LineupError("version", f"{version!r} is not the candidate's; it runs {sorted(offered)}")
        return self.live.with_route(c.classifier.routes[c.route]), c.route

    def promoted(self, live: Classifier) -> None:
        """``live`` (from ``promotion``) is in place: the old live is what a rollback restores."""
        self.previous, self.live, self.candidate = self.live, live, None

    def rollback(self) -> Classifier:
        """The classifier a rollback makes live."""
        if self.previous is None:
            raise LineupError("previous", "nothing to roll back to: no switch since start-up", 409)
        return self.previous

    def rolled_back(self) -> None:
        """The previous classifier is live again; a second rollback has nowhere to go."""
        self.live, self.previous = self.previous or self.live, None
