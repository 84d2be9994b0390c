"""The classify stage: routes each message to its language's models and builds Predictions.

Both ``encode`` and ``forward`` block; the daemon calls them from worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from monitor.models.base import Backend, Encoded, ModelLoadError, Precision, native_bf16, resolve_device
from monitor.models.loader import load_backend
from monitor.models.warmup import WarmUp, warm_up
from monitor.records import Prediction, TaskResult
from monitor.settings import ModelSet, ModelSettings

TASKS = ("topic", "sentiment")
DEFAULT_ROUTE = "default"


def detect_language(text: str) -> str | None:
    """``zh`` when Han characters make up a fifth of the letters, else None (use the default models)."""
    han = letters = 0
    for ch in text[:400]:
        if ch.isalpha():
            letters += 1
            if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff":
                han += 1
    return "zh" if letters and han / letters >= 0.2 else None


@dataclass(frozen=True, slots=True)
class Route:
    """The backends serving one language, and which backend answers which task."""

    name: str
    backends: tuple[Backend, ...]
    task_owner: dict[str, int]  # task -> index into backends

    @property
    def max_length(self) -> int:
        """The shortest token limit among the route's models."""
        return min(b.info.max_length for b in self.backends)


@dataclass(slots=True)
class EncodedBatch:
    """A batch tokenised for every backend of its route."""

    route: str
    parts: list[Encoded]

    @property
    def truncated(self) -> list[bool]:
        """Per message: cut by any backend."""
        return [any(flags) for flags in zip(*(p.truncated for p in self.parts))]

    @property
    def padded_tokens(self) -> int:
        """Padded token count of the widest encoding."""
        return max(int(p.input_ids.numel()) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Tokenized:
    """One text tokenised for every backend of its route."""

    ids: tuple[list[int], ...]
    truncated: tuple[bool, ...]

    @property
    def length(self) -> int:
        """Its longest token sequence: what it costs in a batch."""
        return max(len(ids) for ids in self.ids)


class Classifier:
    """Topic and sentiment classification with per-language model routes."""

    def __init__(self, routes: dict[str, Route], precision: Precision = "fp32", precision_reason: str = "configured") -> None:
        if DEFAULT_ROUTE not in routes:
            raise ModelLoadError("no default model route")
        self.routes = routes
        self.precision = precision
        self.precision_reason = precision_reason

    @classmethod
    def load(cls, settings: ModelSettings) -> Classifier:
        """Load every configured model once (a folder used by several routes is shared)."""
        if settings.threads:
            torch.set_num_threads(settings.threads)
        device = resolve_device(settings.device)
        precision, why = resolve_precision(settings.precision, device)
        cache: dict[tuple[str, str | None], Backend] = {}
        routes = {DEFAULT_ROUTE: _route(DEFAULT_ROUTE, settings.default, cache, device, precision, settings.trace)}
        for lang, model_set in settings.by_language.items():
            routes[lang] = _route(lang, model_set, cache, device, precision, settings.trace)
        return cls(routes, precision, why)

    @staticmethod
    def load_route(name: str, model_set: ModelSet, settings: ModelSettings, precision: Precision) -> Route:
        """Load one route's models on their own (a candidate run in shadow), at the live precision."""
        device = resolve_device(settings.device)
        return _route(name, model_set, {}, device, precision, settings.trace)

    def with_route(self, route: Route) -> Classifier:
        """A classifier like this one with ``route`` in place of the route of its name (the others shared)."""
        if route.name not in self.routes:
            raise ModelLoadError(f"no live route {route.name!r}; routes: {sorted(self.routes)}")
        return Classifier({**self.routes, route.name: route}, self.precision, self.precision_reason)

    def warm_up(self, max_size: int = 64, max_tokens: int = 8192, every_shape: bool | None = None) -> WarmUp:
        """Meet every batch shape that batches of up to ``max_size`` messages and ``max_tokens`` padded
        tokens can take, so the first real batches do not pay for kernel selection and graph
        optimisation (on CPU that costs more than the batch itself); see ``monitor.models.warmup``."""
        return warm_up([b for route in self.routes.values() for b in route.backends], max_size, max_tokens, every_shape)

    def route_for(self, language: str | None, text: str) -> str:
        """The route name for a message: its declared language, else detected, else the default."""
        lang = (language or detect_language(text) or "").split("-")[0]
        return lang if lang in self.routes else DEFAULT_ROUTE

    def describe(self) -> dict[str, dict[str, str]]:
        """Route -> task -> ``name@version`` of the model that answers it."""
        return {
            name: {task: model_id(route.backends[i]) for task, i in route.task_owner.items()}
            for name, route in self.routes.items()
        }

    def labels(self) -> dict[str, frozenset[str]]:
        """Task -> every label some route's model can answer."""
        out: dict[str, set[str]] = {}
        for route in self.routes.values():
            for task, i in route.task_owner.items():
                out.setdefault(task, set()).update(route.backends[i].info.tasks[task])
        return {task: frozenset(labels) for task, labels in out.items()}

    def tokenize(self, route: str, texts: Sequence[str]) -> list[Tokenized]:
        """Tokenise for every backend of the route, one result per text."""
        per_backend = [backend.tokenize(texts) for backend in self.routes[route].backends]
        return [Tokenized(tuple(ids[i] for ids, _ in per_backend), tuple(cut[i] for _, cut in per_backend))
                for i in range(len(texts))]

    def collate(self, route: str, items: Sequence[Tokenized]) -> EncodedBatch:
        """Pad tokenised texts into one batch per backend of the route."""
        return EncodedBatch(route, [
            backend.collate([t.ids[k] for t in items], [t.truncated[k] for t in items])
            for k, backend in enumerate(self.routes[route].backends)
        ])

    def encode(self, route: str, texts: Sequence[str]) -> EncodedBatch:
        """Tokenise and pad in one step."""
        return self.collate(route, self.tokenize(route, texts))

    def forward(self, batch: EncodedBatch) -> list[Prediction]:
        """Run the models and turn probabilities into one Prediction per message."""
        route = self.routes[batch.route]
        outputs = [backend.forward(part) for backend, part in zip(route.backends, batch.parts)]
        truncated = batch.truncated
        # whole-batch conversions (argmax, rounding to the six decimals published, and Python floats via
        # tolist) instead of per-row numpy calls or per-value rounding on the event loop
        per_task: dict[str, tuple[list[list[float]], list[int], tuple[str, ...], str]] = {}
        for task, index in route.task_owner.items():
            backend = route.backends[index]
            probs = outputs[index][task]
            rounded = probs.astype("float64").round(6).tolist()
            per_task[task] = (rounded, probs.argmax(axis=1).tolist(), backend.info.tasks[task], model_id(backend))
        predictions = []
        for row in range(len(truncated)):
            tasks = {}
            for task, (rows, best, labels, model) in per_task.items():
                dist, top = rows[row], best[row]
                tasks[task] = TaskResult(label=labels[top], score=dist[top], distribution=dict(zip(labels, dist)), model=model)
            predictions.append(Prediction(tasks=tasks, truncated=truncated[row]))
        return predictions


def resolve_precision(precision: str, device: torch.device) -> tuple[Precision, str]:
    """The precision to run, and why.

    ``auto`` is bf16 where the device computes it natively (AMX or AVX-512 BF16 on CPU, a CUDA
    device with bf16): there it is within 0.1 point of fp32 on every shipped model and several
    times faster. Elsewhere it is fp32: emulated bf16 ran 6 times slower than fp32 on an
    AVX2-only CPU (bench/README.md), and dynamic int8 loses 1.8 points (English sentiment) to
    12 points (multilingual); see monitor/bundled/models/README.md."""
    native = native_bf16(device)
    if precision == "bf16" and native is None:
        return "bf16", "configured; emulated on this device (no native bf16), where fp32 runs faster"
    if precision != "auto":
        return precision, "configured"  # type: ignore[return-value]
    if native is not None:
        return "bf16", f"auto: {native} computes bf16 natively"
    return "fp32", "auto: no native bf16 on this device (emulated bf16 is slower than fp32)"


def model_id(backend: Backend) -> str:
    """``name@version``: how records, alerts and metrics name a model."""
    return f"{backend.info.name}@{backend.info.version}"


def _route(
    name: str, model_set: ModelSet, cache: dict[tuple[str, str | None], Backend], device: torch.device,
    precision: Precision, trace: bool,
) -> Route:
    refs: list[tuple[str, str | None]] = []
    if model_set.bundle:
        refs.append((model_set.bundle, None))
    for task in TASKS:
        ref = getattr(model_set, task)
        if ref:
            refs.append((ref, task))
    backends: list[Backend] = []
    owner: dict[str, int] = {}
    for ref, task in refs:
        key = (ref, task)
        if key not in cache:
            cache[key] = load_backend(ref, task=task, device=device, precision=precision, trace=trace)
        backend = cache[key]
        if backend not in backends:
            backends.append(backend)
        index = backends.index(backend)
        offered = [task] if task else list(backend.info.tasks)
        for t in offered:
            if t not in backend.info.tasks:
                raise ModelLoadError(f"model {ref} has no task {t!r}; it offers {sorted(backend.info.tasks)}")
            owner[t] = index  # an explicit topic/sentiment folder overrides the bundle's head
    # keep only backends that answer some task
    used = sorted(set(owner.values()))
    remap = {old: new for new, old in enumerate(used)}
    return Route(name, tuple(backends[i] for i in used), {t: remap[i] for t, i in owner.items()})
