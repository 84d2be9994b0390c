"""Generate the Grafana dashboards in deploy/grafana/dashboards/ from this one file.

    python deploy/grafana/dashboards.py          # rewrite the JSON files
    python deploy/grafana/dashboards.py --check  # exit 1 if the JSON files are out of date

Queries name only metrics from monitor/metrics.py and series from deploy/prometheus/rules/; the
test suite checks both against a running daemon. Every query filters on the dashboard variables
namespace and instance (and topic where it applies).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
SEL = 'namespace=~"$namespace", instance=~"$instance"'
TOPIC_SEL = SEL + ', topic=~"$topic"'
RATE = "$__rate_interval"
# Joins a per-instance series to the role of the process that exports it (textmon_role{role} is 1).
BY_ROLE = f"* on (namespace, instance) group_left(role) textmon_role{{{SEL}}}"


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: str = "time_series") -> dict[str, Any]:
    """One Prometheus query of a panel."""
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr, "legendFormat": legend or "__auto", "refId": ref,
        "instant": instant, "range": not instant, "format": fmt,
    }


def panel(title: str, targets: list[dict[str, Any]], unit: str = "short", kind: str = "timeseries",
          description: str = "", w: int = 12, h: int = 8, stack: bool = False, **options: Any) -> dict[str, Any]:
    """A panel; grid positions are filled in by ``layout``."""
    refs = "ABCDEFGH"
    for i, t in enumerate(targets):
        t["refId"] = refs[i]
    custom: dict[str, Any] = {}
    if kind == "timeseries":
        custom = {"lineWidth": 1, "fillOpacity": 15 if stack else 5, "showPoints": "never",
                  "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    return {
        "type": kind, "title": title, "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": options or {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                               "tooltip": {"mode": "multi", "sort": "desc"}},
        "gridPos": {"w": w, "h": h},
    }


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping at Grafana's 24 columns; give each an id."""
    x = y = row_h = 0
    for pid, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24 or p["type"] == "row":
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        p["id"] = pid
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            x, y, row_h = 0, y + h, 0
    return panels


def variables(with_topic: bool) -> list[dict[str, Any]]:
    """Data source, namespace, instance (and topic) variables, each narrowing the next."""
    def query_var(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "type": "query", "name": name, "label": label,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query,
            "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1,
        }

    out = [
        {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
         "current": {"selected": False, "text": "Prometheus", "value": "prometheus"}, "hide": 0},
        query_var("namespace", "Namespace", "label_values(textmon_build_info, namespace)"),
        query_var("instance", "Instance", 'label_values(textmon_build_info{namespace=~"$namespace"}, instance)'),
    ]
    if with_topic:
        out.append(query_var("topic", "Topic", 'label_values(textmon_classified_total{namespace=~"$namespace"}, topic)'))
    return out


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], with_topic: bool) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["textmon"],
        "timezone": "browser", "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
        "refresh": "30s", "time": {"from": "now-3h", "to": "now"},
        "templating": {"list": variables(with_topic)},
        "annotations": {"list": []},
        "links": [{"title": "textmon", "type": "dashboards", "tags": ["textmon"], "asDropdown": False}],
        "panels": layout(panels),
    }


def quantiles(metric: str, by: str = "") -> list[dict[str, Any]]:
    group = f"le{', ' + by if by else ''}"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        target(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{SEL}}}[{RATE}])))", f"p{int(q * 100)}{suffix}")
        for q in (0.5, 0.95, 0.99)
    ]


def pipeline() -> dict[str, Any]:
    panels = [
        row("Health"),
        panel("Ready replicas", [target(f"sum(textmon_ready{{{SEL}}})", "ready"),
                                 target(f"count(textmon_ready{{{SEL}}})", "replicas")], kind="stat", w=6, h=5,
              description="Replicas whose /readyz answers 200, of all replicas scraped."),
        panel("Broker reachable", [target(f"min(textmon_broker_reachable{{{SEL}}})", "broker")], kind="stat", w=6, h=5),
        panel("In flight", [target(f"sum(textmon_in_flight_messages{{{SEL}}})", "in flight"),
                            target(f"sum(textmon_in_flight_limit_messages{{{SEL}}})", "limit")], kind="stat", w=6, h=5,
              description="Fetched but not yet committed, and the count at which fetching pauses "
                          "(batch.max_in_flight; auto: about two seconds of work)."),
        panel("Paused for backpressure", [target(f"sum(textmon_consumer_paused{{{SEL}}})", "paused replicas")],
              kind="stat", w=6, h=5),
        row("Throughput and lag"),
        panel("Throughput", [target(f"sum(textmon:messages_consumed:rate5m{{{SEL}}})", "consumed"),
                             target(f"sum(textmon:messages_processed:rate5m{{{SEL}}})", "classified"),
                             target(f"sum(textmon:dead_letters:rate5m{{{SEL}}})", "dead-lettered"),
                             target(f"sum(rate(textmon_messages_truncated_total{{{SEL}}}[{RATE}]))", "truncated")],
              unit="ops", description="Messages per second, 5-minute rates."),
        panel("Consumer lag by Kafka topic", [
            target('sum by (topic) (textmon:consumer_lag_messages:sum{namespace=~"$namespace"})', "{{topic}}"),
            target(f"max by (topic, partition) (textmon_consumer_lag_messages{{{SEL}}})", "{{topic}}/{{partition}}"),
        ], description="High watermark minus position. KEDA scales on the same lag."),
        panel("Batch size", [
            target(f"histogram_quantile(0.5, sum by (le) (rate(textmon_batch_size_messages_bucket{{{SEL}}}[{RATE}])))", "p50"),
            target(f"histogram_quantile(0.95, sum by (le) (rate(textmon_batch_size_messages_bucket{{{SEL}}}[{RATE}])))", "p95"),
            target(f"avg(textmon:batch_size_messages:mean_5m{{{SEL}}})", "mean"),
        ], description="Messages per inference batch."),
        panel("Padded tokens per batch", [
            target(f"histogram_quantile(0.95, sum by (le) (rate(textmon_batch_tokens_bucket{{{SEL}}}[{RATE}])))", "p95"),
        ]),
        row("Latency"),
        panel("Inference time per batch", quantiles("textmon_inference_seconds", "model"), unit="s"),
        panel("Tokenisation time per chunk of arrivals", quantiles("textmon_tokenize_seconds"), unit="s"),
        panel("End to end from event time", quantiles("textmon_end_to_end_from_event_seconds"), unit="s",
              description="Enriched record acknowledged minus the message's own timestamp."),
        panel("End to end from broker time", quantiles("textmon_end_to_end_from_broker_seconds"), unit="s",
              description="Enriched record acknowledged minus the broker's timestamp: the daemon's own delay."),
        row("Failures"),
        panel("Dead letters by reason", [target(f"sum by (reason) (textmon:dead_letters:rate5m{{{SEL}}})", "{{reason}}")],
              unit="ops", stack=True),
        panel("Sink failures", [target(f"sum by (sink) (textmon:sink_failures:rate5m{{{SEL}}})", "{{sink}}")], unit="ops",
              description="Failed delivery attempts (retried)."),
        panel("Sink deliveries by outcome", [
            target(f"sum by (sink, outcome) (rate(textmon_sink_deliveries_total{{{SEL}}}[{RATE}]))", "{{sink}} {{outcome}}"),
        ], unit="ops"),
        panel("Sink queues", [target(f"sum by (sink) (textmon_sink_queue_alerts{{{SEL}}})", "{{sink}}")]),
        panel("Offset commits and produce retries", [
            target(f"sum by (outcome) (rate(textmon_offset_commits_total{{{SEL}}}[{RATE}]))", "commit {{outcome}}"),
            target(f"sum(rate(textmon_produce_retries_total{{{SEL}}}[{RATE}]))", "produce retries"),
            target(f"sum(rate(textmon_backpressure_pauses_total{{{SEL}}}[{RATE}]))", "backpressure pauses"),
            target(f"sum(increase(textmon_partition_assignments_total{{{SEL}}}[{RATE}]))", "partition assignments"),
        ], unit="ops"),
        panel("Trend bookkeeping", [
            target(f"sum(rate(textmon_late_records_total{{{SEL}}}[{RATE}]))", "late records"),
            target(f"sum(rate(textmon_near_duplicates_total{{{SEL}}}[{RATE}]))", "near duplicates"),
            target(f"sum(rate(textmon_trend_replays_skipped_total{{{SEL}}}[{RATE}]))", "redeliveries skipped"),
            target(f"histogram_quantile(0.95, sum by (le) (rate(textmon_checkpoint_seconds_bucket{{{SEL}}}[{RATE}])))", "checkpoint p95 (s)"),
        ], unit="short"),
    ] + tiers()
    return dashboard("textmon-pipeline", "textmon / pipeline",
                     "Throughput, consumer lag, batching, inference latency, dead letters and sinks; "
                     "classify, judge and deliver in the two-tier layout.", panels, False)


def tiers() -> list[dict[str, Any]]:
    """The two-tier layout: each role's throughput and lag, the judges' work and state, delivery.

    A single process reports role "all" here and leaves the judge and delivery panels empty.
    """
    return [
        row("Tiers (two-tier layout)"),
        panel("Processes by role", [target(f"count by (role) (textmon_role{{{SEL}}})", "{{role}}")],
              kind="stat", w=6, h=5, description="all: one process does everything; classify, judge, deliver: the tiers."),
        panel("Judge tasks", [target(f"sum by (instance) (textmon_judge_tasks{{{SEL}}})", "{{instance}}")],
              kind="stat", w=6, h=5,
              description="Enriched partitions each judge owns; together they should equal the topic's partitions."),
        panel("Judge watermark behind the clock", [
            target(f"max by (instance) (textmon_judge_watermark_lag_seconds{{{SEL}}})", "{{instance}}"),
        ], unit="s", w=12, h=5,
              description="Wall time minus each judge's event-time watermark (the slowest active input partition's "
                          "newest event). Buckets close and alerts are decided only behind it."),
        panel("Classified per second by role", [
            target(f"sum by (role) (textmon:messages_processed:rate5m{{{SEL}}} {BY_ROLE})", "{{role}}"),
        ], unit="ops", description="Classify replicas (or the single process), 5-minute rates."),
        panel("Consumer lag by role", [
            target(f"sum by (role, topic) (max by (role, topic, partition) (textmon_consumer_lag_messages{{{SEL}}} {BY_ROLE}))",
                   "{{role}} {{topic}}"),
        ], description="Classify on the input topics, the judges on the enriched topic."),
        panel("Judge records per second", [
            target(f"sum by (instance) (rate(textmon_judge_records_total{{{SEL}}}[{RATE}]))", "{{instance}}"),
            target(f"sum(rate(textmon_judge_changelog_records_total{{{SEL}}}[{RATE}]))", "changelog records written"),
        ], unit="ops", description="Enriched records judged, per judge; and state changes written to the changelog."),
        panel("Judge step time", quantiles("textmon_judge_step_seconds"), unit="s",
              description="One step: judge what arrived, then commit changelog, aggregates, alerts and offsets in "
                          "one transaction per partition."),
        panel("Judge restores (last hour)", [
            target(f"histogram_quantile(0.95, sum by (le) (increase(textmon_judge_restore_seconds_bucket{{{SEL}}}[1h])))",
                   "p95 (s)"),
            target(f"max(increase(textmon_judge_restore_seconds_sum{{{SEL}}}[1h]) / increase(textmon_judge_restore_seconds_count{{{SEL}}}[1h]))",
                   "mean (s)"),
            target(f"sum(increase(textmon_judge_restore_seconds_count{{{SEL}}}[1h]))", "restores"),
        ], description="A partition's state read back from the changelog when a judge is assigned it."),
        panel("Deliveries by sink and outcome", [
            target(f"sum by (sink, outcome) (rate(textmon_deliver_notifications_total{{{SEL}}}[{RATE}]))",
                   "{{sink}} {{outcome}}"),
        ], unit="ops", description="Notifications the delivery process handled; it commits the alerts topic after delivery."),
    ]


def business() -> dict[str, Any]:
    panels = [
        row("Alerts"),
        panel("Alerts firing", [target(f"sum(textmon_alerts_firing{{{SEL}}})", "firing")], kind="stat", w=6, h=6),
        panel("Alerts firing by rule", [target(f"sum by (rule) (textmon_alerts_firing{{{SEL}}})", "{{rule}}", instant=True)],
              kind="bargauge", w=9, h=6, options={"orientation": "horizontal", "displayMode": "basic"}),
        panel("Alert notifications (last hour)", [
            target(f"sum by (rule, state) (increase(textmon_alerts_total{{{SEL}}}[1h]))", "{{rule}} {{state}}", instant=True),
            target(f"sum(increase(textmon_alert_notifications_muted_total{{{SEL}}}[1h]))", "muted", instant=True),
        ], kind="bargauge", w=9, h=6, options={"orientation": "horizontal", "displayMode": "basic"}),
        row("Per topic"),
        panel("Volume per topic", [
            target(f"60 * sum by (topic) (textmon:topic_messages:rate5m{{{TOPIC_SEL}}})", "{{topic}}"),
        ], unit="short", description="Messages per minute classified into each topic (5-minute rate).", stack=True),
        panel("Negative share per topic", [
            target(f'sum by (topic) (textmon:topic_sentiment_messages:rate5m{{{TOPIC_SEL}, sentiment="negative"}})'
                   f" / sum by (topic) (textmon:topic_messages:rate5m{{{TOPIC_SEL}}})", "{{topic}}"),
        ], unit="percentunit", description="Share of negative messages per topic over 5 minutes of arrivals."),
        panel("Negative share in the alert window", [
            target(f"max by (topic) (textmon_window_negative_share{{{TOPIC_SEL}}})", "{{topic}}"),
        ], unit="percentunit", description="What the daemon's rules see: its own event-time window per topic."),
        panel("Messages in the alert window", [target(f"sum by (topic) (textmon_window_messages{{{TOPIC_SEL}}})", "{{topic}}")]),
        panel("Sentiment mix", [
            target(f"60 * sum by (sentiment) (textmon:topic_sentiment_messages:rate5m{{{TOPIC_SEL}}})", "{{sentiment}}"),
        ], stack=True, description="Messages per minute by sentiment, over the selected topics."),
        panel("Near-duplicates folded per topic", [
            target(f"60 * sum by (topic) (rate(textmon_near_duplicates_total{{{TOPIC_SEL}}}[{RATE}]))", "{{topic}}"),
        ]),
        row("Models"),
        panel("Model versions", [target(f"textmon_build_info{{{SEL}}}", instant=True, fmt="table")],
              kind="table", w=24, h=6, description="What each replica runs: one column per route_task (name@version).",
              options={"showHeader": True}),
        panel("Shadow: agreement with the live models", [
            target(f"max by (instance, task) (textmon_shadow_agreement_ratio{{{SEL}}})", "{{instance}} {{task}}"),
        ], unit="percentunit", w=8, description="Share of shadowed messages the candidate labels as the live models do, "
                                                "since it was loaded (empty without a candidate)."),
        panel("Shadow: alerts by side (last hour)", [
            target(f"sum by (model, rule, state) (increase(textmon_shadow_alerts_total{{{SEL}}}[1h]))",
                   "{{model}} {{rule}} {{state}}", instant=True),
        ], kind="bargauge", w=8, options={"orientation": "horizontal", "displayMode": "basic"},
              description="Notifications the shadow judgement raised on the sampled messages with the live labels "
                          "and with the candidate's."),
        panel("Model switches and shadow cost", [
            target(f"sum by (action) (increase(textmon_model_switches_total{{{SEL}}}[1h]))", "{{action}} (last hour)"),
            target(f"sum(rate(textmon_shadow_inference_seconds_sum{{{SEL}}}[{RATE}]))", "candidate inference s/s"),
            target(f"sum(rate(textmon_shadow_errors_total{{{SEL}}}[{RATE}]))", "candidate errors/s"),
        ], w=8, description="Promotions and rollbacks; the CPU seconds per second the candidate's inference takes."),
    ]
    return dashboard("textmon-business", "textmon / topics and sentiment",
                     "Volume and negative share per topic, active alerts and the models behind them.", panels, True)


def render() -> dict[str, str]:
    return {name: json.dumps(board, indent=2, ensure_ascii=False) + "\n"
            for name, board in (("textmon-pipeline.json", pipeline()), ("textmon-business.json", business()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python deploy/grafana/dashboards.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
