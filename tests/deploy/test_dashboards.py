"""Grafana dashboards: generated from code, with variables, querying only metrics that exist."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from tests.deploy.conftest import DEPLOY, run_tool
from tests.deploy.promql import known_names, names_in
from tests.deploy.test_prometheus import recording_rule_names
from tests.support.streams import http_get

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def queries(board: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    out = []
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            out.append((f"{board['uid']} / {panel['title']} / {t['refId']}", t["expr"]))
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"{board['uid']} / variable {var['name']}", var["query"]["query"]))
    return out


def test_dashboards_json_is_what_the_generator_writes():
    proc = subprocess.run([sys.executable, str(GRAFANA / "dashboards.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert {p.stem for p in DASHBOARDS} == {"textmon-pipeline", "textmon-business"}


def test_dashboards_have_namespace_instance_and_topic_variables_and_use_them():
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        names = {v["name"] for v in board["templating"]["list"]}
        assert {"datasource", "namespace", "instance"} <= names, path.name
        for where, expr in queries(board):
            if "variable" not in where:
                assert '$namespace' in expr, f"{where} ignores the namespace variable"
    business = json.loads((GRAFANA / "dashboards" / "textmon-business.json").read_text())
    assert "topic" in {v["name"] for v in business["templating"]["list"]}
    panels = [p for p in business["panels"] if p["type"] != "row"]
    assert any("$topic" in t["expr"] for p in panels for t in p["targets"])


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus" and ds["datasources"][0]["uid"] == "prometheus"
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "textmon.yml").read_text())
    mount = prov["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert any(v.split(":")[1] == mount and v.split(":")[0].endswith("grafana/dashboards") for v in volumes), volumes


async def test_every_dashboard_query_names_only_exported_metrics_or_recorded_series(fed_daemon):
    _, body = await http_get(fed_daemon.url + "/metrics")
    known = known_names(body) | recording_rule_names()
    seen = set()
    for path in DASHBOARDS:
        for where, expr in queries(json.loads(path.read_text())):
            names = names_in(expr)
            assert names, f"{where}: no metric name found in {expr!r}"
            unknown = names - known
            assert not unknown, f"{where} queries unknown {sorted(unknown)}: {expr}"
            seen |= names
    # the dashboards cover the pipeline signals the issue asks for
    for name in ("textmon:messages_processed:rate5m", "textmon:consumer_lag_messages:sum", "textmon_batch_size_messages_bucket",
                 "textmon_inference_seconds_bucket", "textmon:dead_letters:rate5m", "textmon:sink_failures:rate5m",
                 "textmon:topic_messages:rate5m", "textmon:topic_sentiment_messages:rate5m", "textmon_alerts_firing",
                 "textmon_build_info",
                 # the two-tier layout: roles, the judges' work and state, delivery
                 "textmon_role", "textmon_judge_records_total", "textmon_judge_tasks", "textmon_judge_step_seconds_bucket",
                 "textmon_judge_restore_seconds_bucket", "textmon_judge_watermark_lag_seconds",
                 "textmon_judge_changelog_records_total", "textmon_deliver_notifications_total"):
        assert name in seen, f"no dashboard shows {name}"


def test_every_dashboard_query_is_valid_promql(tmp_path):
    # promtool parses each query as a recording rule's expression (Grafana's variables filled in).
    rules = []
    for path in DASHBOARDS:
        for where, expr in queries(json.loads(path.read_text())):
            if "variable" in where:
                continue
            expr = expr.replace("$__rate_interval", "5m")
            rules.append({"record": f"dashboard:query_{len(rules)}:check", "expr": re.sub(r"\$\{?\w+\}?", ".*", expr)})
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = run_tool("promtool", "check", "rules", str(tmp_path / "queries.yml")).stdout
    assert f"{len(rules)} rules found" in out
