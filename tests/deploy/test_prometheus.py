"""Prometheus rules and config pass promtool, and a real Prometheus scrapes a running daemon."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from urllib.parse import quote

import yaml

from tests.deploy.conftest import DEPLOY, run_tool
from tests.deploy.promql import known_names, names_in
from tests.support.streams import http_get, produce, wait_until

PROMETHEUS = DEPLOY / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))


def test_rules_and_config_pass_promtool():
    assert RULE_FILES, "no rule files"
    run_tool("promtool", "check", "rules", *map(str, RULE_FILES))
    out = run_tool("promtool", "check", "config", str(PROMETHEUS / "prometheus.yml")).stdout
    assert f"{len(RULE_FILES)} rule files found" in out  # the config really loads the rules


def test_alert_rules_fire_as_their_unit_tests_say():
    tests = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
    assert tests
    run_tool("promtool", "test", "rules", *map(str, tests), cwd=PROMETHEUS / "tests")


def test_alertmanager_config_passes_amtool():
    run_tool("amtool", "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))


def recording_rule_names() -> set[str]:
    return {r["record"] for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "record" in r}


async def test_rules_name_only_metrics_the_daemon_exports(fed_daemon):
    _, body = await http_get(fed_daemon.url + "/metrics")
    known = known_names(body) | recording_rule_names() | {"up"}
    for f in RULE_FILES:
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                unknown = names_in(rule["expr"]) - known
                assert not unknown, f"{f.name}: {rule.get('record') or rule.get('alert')} uses unknown {sorted(unknown)}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_real_prometheus_scrapes_the_daemon_and_records_per_topic_rates(fed_daemon, tmp_path):
    # The project's config, pointed at the test daemon, with second-long intervals.
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config.pop("alerting")
    config["rule_files"] = [str(f) for f in RULE_FILES]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "textmon")
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{fed_daemon.daemon.http_port}"]
    job.pop("dns_sd_configs")  # the compose two-tier services' names
    config["scrape_configs"] = [job]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    run_tool("promtool", "check", "config", str(tmp_path / "prometheus.yml"))

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    found: dict[str, list] = {}

    def query_until_nonempty(expr: str):
        async def check() -> bool:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            status, body = await http_get(f"{api}/query?query={quote(expr)}")
            if status != 200:
                return False
            found[expr] = json.loads(body)["data"]["result"]
            return bool(found[expr])
        return check

    try:
        await wait_until(query_until_nonempty('up{job="textmon"} == 1'), timeout=60)
        # Traffic while Prometheus watches, so the rates are not 0/0.
        news = [json.dumps({"id": f"prom-{i}", "text": f"shares slide at lender {i}"}).encode() for i in range(60)]
        await produce(fed_daemon.bootstrap, fed_daemon.topic, news)
        for expr in ("textmon:topic_messages:rate5m > 0", "textmon:topic_negative_share:ratio_rate5m"):
            await wait_until(query_until_nonempty(expr), timeout=60)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
        log.close()

    _, status = await http_get(fed_daemon.url + "/api/status")
    topics = {s["metric"]["topic"] for s in found["textmon:topic_messages:rate5m > 0"]}
    assert topics and topics <= {t["topic"] for t in json.loads(status)["topics"]}
    assert {s["metric"]["namespace"] for s in found["textmon:topic_messages:rate5m > 0"]} == {"compose"}
    # every message is negative (pinned model), so the recorded share is exactly 1 per topic
    assert {float(s["value"][1]) for s in found["textmon:topic_negative_share:ratio_rate5m"]} == {1.0}
