"""Every metric the daemon exports, defined in one place against an injectable registry.

Labels stay low-cardinality: Kafka topic and partition, topic label, sentiment label,
rule, sink, reason. Never a message id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from monitor.records import DeadLetterReason

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The daemon's metrics. Tests build one over a fresh ``CollectorRegistry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Info("textmon_build", "Daemon version and the models it runs", registry=r)
        self.messages_consumed = Counter(
            "textmon_messages_consumed_total", "Records fetched from Kafka", ["topic", "partition"], registry=r
        )
        self.messages_processed = Counter(
            "textmon_messages_processed_total", "Messages classified and published, by model route", ["route"], registry=r
        )
        self.messages_truncated = Counter(
            "textmon_messages_truncated_total", "Messages cut to the model's token limit", registry=r
        )
        self.dead_letters = Counter(
            "textmon_dead_letters_total", "Records sent to the dead-letter topic", ["reason"], registry=r
        )
        for reason in DeadLetterReason:  # every reason exported from the start, at 0: a rate over it is 0, not absent
            self.dead_letters.labels(reason.value)
        self.batch_size = Histogram(
            "textmon_batch_size_messages", "Messages per inference batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "textmon_batch_tokens", "Padded tokens per inference batch",
            buckets=(64, 256, 1024, 2048, 4096, 8192, 16384, 32768), registry=r,
        )
        self.inference_seconds = Histogram(
            "textmon_inference_seconds", "Forward-pass time per batch", ["model"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.warmup_seconds = Gauge(
            "textmon_warmup_seconds", "Time the start-up warm-up took (every batch shape the batcher can cut)",
            registry=r,
        )
        self.warmup_shapes = Gauge(
            "textmon_warmup_shapes", "Batch shapes and dense-layer row counts the start-up warm-up met", registry=r
        )
        self.tokenize_seconds = Histogram(
            "textmon_tokenize_seconds", "Tokenisation time per chunk of arrived messages", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.e2e_event_seconds = Histogram(
            "textmon_end_to_end_from_event_seconds", "Enriched record acknowledged minus the message's event time",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.e2e_broker_seconds = Histogram(
            "textmon_end_to_end_from_broker_seconds", "Enriched record acknowledged minus the broker timestamp",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.consumer_lag = Gauge(
            "textmon_consumer_lag_messages", "High watermark minus position", ["topic", "partition"], registry=r
        )
        self.in_flight = Gauge("textmon_in_flight_messages", "Messages fetched but not yet committed", registry=r)
        self.in_flight_limit = Gauge(
            "textmon_in_flight_limit_messages", "Messages in flight at which fetching pauses (batch.max_in_flight)",
            registry=r,
        )
        self.paused = Gauge("textmon_consumer_paused", "1 while fetching is paused for backpressure", registry=r)
        self.pauses = Counter(
            "textmon_backpressure_pauses_total", "Times fetching was paused because downstream was full", registry=r
        )
        self.rebalances = Counter(
            "textmon_partition_assignments_total", "Partition assignments received from the group", registry=r
        )
        self.commit_stalled = Gauge(
            "textmon_commit_stalled_seconds",
            "Seconds a partition with work pending has gone without its commit advancing (0 while it advances)",
            ["topic", "partition"], registry=r,
        )
        self.commits = Counter("textmon_offset_commits_total", "Offset commits", ["outcome"], registry=r)
        self.classified = Counter(
            "textmon_classified_total", "Messages per topic label and sentiment label", ["topic", "sentiment"],
            registry=r,
        )
        self.alerts = Counter("textmon_alerts_total", "Alert notifications raised", ["rule", "state"], registry=r)
        self.alerts_active = Gauge("textmon_alerts_firing", "Alerts currently firing", ["rule"], registry=r)
        self.sink_deliveries = Counter(
            "textmon_sink_deliveries_total", "Alert notifications handled by sinks", ["sink", "rule", "outcome"],
            registry=r,
        )
        self.sink_failures = Counter(
            "textmon_sink_failures_total", "Failed delivery attempts per sink", ["sink"], registry=r
        )
        self.sink_discarded = Counter(
            "textmon_sink_alerts_discarded_total", "Alerts dropped from a sink's outbox past its age or size limit",
            ["sink", "reason"], registry=r,
        )
        self.sink_queue = Gauge("textmon_sink_queue_alerts", "Alerts waiting per sink", ["sink"], registry=r)
        self.records_dropped = Counter(
            "textmon_records_dropped_total",
            "Inputs whose output, dead letter and stand-in the broker all refused for good (logged with their position)",
            registry=r,
        )
        self.produce_retries = Counter(
            "textmon_produce_retries_total", "Retried publishes to the output or dead-letter topic", registry=r
        )
        self.broker_up = Gauge("textmon_broker_reachable", "1 when the Kafka cluster answers", registry=r)
        self.example_topic_errors = Counter(
            "textmon_example_topic_errors_total",
            "Batches whose labelling with the topics defined by example failed (their records went on without them)",
            registry=r,
        )
        self.ready = Gauge("textmon_ready", "1 when the daemon is ready (broker reachable, models loaded)", registry=r)
        self.late_records = Counter(
            "textmon_late_records_total", "Records older than the watermark allows, left out of trends", registry=r
        )
        self.duplicates = Counter(
            "textmon_near_duplicates_total", "Near-duplicate texts counted once in trends", ["topic"], registry=r
        )
        self.replays_skipped = Counter(
            "textmon_trend_replays_skipped_total", "Redelivered records already in the restored trend state", registry=r
        )
        self.checkpoint_seconds = Histogram(
            "textmon_checkpoint_seconds", "Time to write the trend checkpoint", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.alerts_muted = Counter(
            "textmon_alert_notifications_muted_total", "Notifications held back by silences or inhibition", registry=r
        )
        self.window_messages = Gauge(
            "textmon_window_messages", "Messages in the current trend window per topic label", ["topic"], registry=r
        )
        self.window_negative_share = Gauge(
            "textmon_window_negative_share", "Share of negative messages in the trend window", ["topic"], registry=r
        )
        # the two-tier layout (monitor.tiers): which tier this process is, and the judge and delivery tiers
        self.role = Gauge("textmon_role", "1 for the role this process runs (all, classify, judge, deliver)", ["role"],
                          registry=r)
        self.judge_records = Counter("textmon_judge_records_total", "Enriched records counted by the judge tier",
                                     registry=r)
        self.judge_tasks = Gauge("textmon_judge_tasks", "Enriched partitions this judge owns", registry=r)
        self.judge_step_seconds = Histogram(
            "textmon_judge_step_seconds", "Time to commit one step (changelog, alerts, offsets) for one partition",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.judge_restore_seconds = Histogram(
            "textmon_judge_restore_seconds", "Time to restore one partition's state from the changelog",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.judge_changelog_records = Counter(
            "textmon_judge_changelog_records_total", "State changes written to the changelog topic", registry=r)
        self.judge_watermark_lag = Gauge(
            "textmon_judge_watermark_lag_seconds", "Wall clock minus the oldest owned partition's event-time watermark",
            registry=r)
        self.deliver_notifications = Counter(
            "textmon_deliver_notifications_total", "Notifications the delivery tier handed to a sink", ["sink", "outcome"],
            registry=r)
        self.feedback_corrections = Counter(
            "textmon_feedback_corrections_total", "Analysts' corrections taken in, by how they came",
            ["via"], registry=r,
        )
        for via in ("api", "topic", "label-studio"):
            self.feedback_corrections.labels(via)
        self.feedback_invalid = Counter(
            "textmon_feedback_invalid_total", "Records on the feedback topic that are no valid correction", registry=r
        )
        self.feedback_refused = Counter(
            "textmon_feedback_refused_total", "State-changing requests refused, by why", ["reason"], registry=r
        )
        self.review_queue = Gauge("textmon_review_queue_messages", "Messages waiting in the review queue", registry=r)
        # shadow, then promote (monitor.shadow): a candidate beside the live models, and the switches between them
        self.shadow_predictions = Counter(
            "textmon_shadow_predictions_total", "Messages classified by live and candidate, by task and both labels",
            ["task", "live", "candidate"], registry=r,
        )
        self.shadow_agreement = Gauge(
            "textmon_shadow_agreement_ratio", "Share of shadowed messages the candidate labels as the live model does "
            "(since the candidate loaded; NaN before any)", ["task"], registry=r,
        )
        self.shadow_messages = Counter(
            "textmon_shadow_messages_total", "Messages the candidate classified in shadow", registry=r
        )
        self.shadow_seconds = Histogram(
            "textmon_shadow_inference_seconds", "The candidate's tokenising and forward pass per sampled batch",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.shadow_errors = Counter(
            "textmon_shadow_errors_total", "Sampled batches the candidate failed on (live output unaffected)", registry=r
        )
        self.shadow_alerts = Counter(
            "textmon_shadow_alerts_total", "Alert notifications the shadow judgement raised on the sampled messages, "
            "with the live labels (model=live) and the candidate's (model=candidate)", ["model", "rule", "state"],
            registry=r,
        )
        self.shadow_sample_rate = Gauge(
            "textmon_shadow_sample_rate", "Share of its route's batches the candidate classifies (0: no candidate)",
            registry=r,
        )
        self.model_switches = Counter(
            "textmon_model_switches_total", "Switches of the live models, by action", ["action"], registry=r
        )
        for action in ("promote", "rollback"):
            self.model_switches.labels(action)
