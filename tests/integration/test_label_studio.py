"""The Label Studio round trip against a real Label Studio server (its own virtual environment, made by
scripts/label-studio-env.sh) and a real daemon on the session's broker: the review queue goes out as
tasks with the live model's answers pre-selected, an analyst annotates some (confirms one, corrects
two, skips one), and the import puts the finished ones on the feedback topic, where the daemon takes them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon import Daemon
from monitor.metrics import Metrics
from monitor.settings import feedback_topic
from tests.support.config import daemon_settings, write_config
from tests.support.kafka import unique
from tests.support.label_studio import LabelStudioServer
from tests.support.streams import consume_until, create_topics, http_get, metric_value, produce, wait_until

pytestmark = pytest.mark.timeout(600)  # a first start of Label Studio migrates its database: minutes on a busy machine
ADMIN = "admin-token-for-the-label-studio-test"
MESSAGES = 8


@pytest.fixture
def label_studio(tmp_path: Path) -> Iterator[LabelStudioServer]:
    server = LabelStudioServer(tmp_path / "label-studio")
    server.workdir.mkdir()
    server.start()  # fails, saying how to create it, when Label Studio's environment is missing
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


async def run_cli(*args: str, token: str) -> tuple[int, str, str]:
    """``monitor ARGS`` as a person runs it, with the Label Studio token in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "LABEL_STUDIO_"))}
    env["LABEL_STUDIO_API_KEY"] = token
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "monitor.cli", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert token not in out.decode() + err.decode(), "the token must never be printed"
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli(*args: str, token: str) -> dict[str, Any]:
    """A command that must succeed; its one-line JSON summary."""
    code, out, err = await run_cli(*args, token=token)
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def choice(task: str, label: str) -> dict[str, Any]:
    return {"from_name": task, "to_name": "text", "type": "choices", "value": {"choices": [label]}}


async def test_review_queue_to_label_studio_and_annotations_back_as_corrections(broker, tiny_models, tmp_path,
                                                                                label_studio):
    ls = label_studio
    topic = unique("ls")
    # every message queued for review: random tiny models are unsure of everything anyway
    settings = daemon_settings(broker.bootstrap, tiny_models, topic, review={"max_margin": 1.0},
                               http={"host": "127.0.0.1", "port": 0, "admin_token": ADMIN})
    fb_topic = feedback_topic(settings)
    await create_topics(broker.bootstrap, topic, settings.kafka.output_topic)
    texts = {f"m{i}": f"lender {i} misses a coupon as bond yields jump" for i in range(MESSAGES)}
    await produce(broker.bootstrap, topic, [json.dumps({"id": k, "text": t}).encode() for k, t in texts.items()])
    # a personal access token (a JWT), as an analyst would copy it from Label Studio's account page
    personal_token = (await asyncio.to_thread(ls.call, "POST", "/api/token/"))["token"]
    metrics = Metrics()
    daemon = Daemon(settings, metrics)
    run = asyncio.create_task(daemon.run())
    try:
        out = await consume_until(broker.bootstrap, [settings.kafka.output_topic], lambda rs: len(rs) >= MESSAGES)
        enriched = {r.json()["id"]: r.json() for r in out}
        assert daemon.desk.log is not None
        await asyncio.wait_for(daemon.desk.log.ready.wait(), 60)
        port = daemon.http_port
        assert port is not None
        daemon_url = f"http://127.0.0.1:{port}"

        async def queued() -> bool:
            return len(json.loads((await http_get(f"{daemon_url}/api/review"))[1])["items"]) == MESSAGES

        await wait_until(queued)
        config = write_config(settings, tmp_path / "config.yaml")

        # out: a new project with the model's labels as choices, one task per queued message
        exported = await cli("--config", str(config), "feedback", "label-studio", "export", "--review", daemon_url,
                             "--title", "textmon review", "--url", ls.url, "--out", str(tmp_path / "tasks.json"),
                             token=personal_token)
        project = exported["project"]
        assert exported["tasks"] == exported["imported"] == MESSAGES and exported["skipped"] == []
        label_config = (await asyncio.to_thread(ls.call, "GET", f"/api/projects/{project}"))["label_config"]
        for label in exported["labels"]["topic"] + exported["labels"]["sentiment"]:
            assert f'value="{label}"' in label_config
        listed = await asyncio.to_thread(ls.call, "GET", f"/api/tasks?project={project}&page_size=100")
        tasks = {t["data"]["message_id"]: t for t in listed["tasks"]}
        assert set(tasks) == set(texts)

        # the annotator sees the live model's answers pre-selected, with their scores
        for message_id, task in tasks.items():
            assert task["data"]["text"] == texts[message_id]
            predictions = await asyncio.to_thread(ls.call, "GET", f"/api/predictions?task={task['id']}")
            [prediction] = predictions
            chosen = {r["from_name"]: (r["value"]["choices"], r["score"]) for r in prediction["result"]}
            for t in ("topic", "sentiment"):
                assert chosen[t] == ([enriched[message_id][t]["label"]], pytest.approx(enriched[message_id][t]["score"]))
            assert task["data"]["topic_model"] == enriched[message_id]["topic"]["model"]

        def other(task: str, message_id: str) -> str:
            return next(label for label in exported["labels"][task] if label != enriched[message_id][task]["label"])

        # the analyst: confirms m0, corrects m1's topic and m2's sentiment (only), skips m3, leaves the rest
        m0, m1, m2 = (enriched[m] for m in ("m0", "m1", "m2"))
        annotations = {
            "m0": {"result": [choice("topic", m0["topic"]["label"]), choice("sentiment", m0["sentiment"]["label"])]},
            "m1": {"result": [choice("topic", other("topic", "m1")), choice("sentiment", m1["sentiment"]["label"])]},
            "m2": {"result": [choice("sentiment", other("sentiment", "m2"))]},
            "m3": {"result": [], "was_cancelled": True},
        }
        for message_id, body in annotations.items():
            await asyncio.to_thread(ls.call, "POST", f"/api/tasks/{tasks[message_id]['id']}/annotations",
                                    {**body, "lead_time": 4.2})

        # back: the finished annotations become corrections on the feedback topic
        imported = await cli("--config", str(config), "feedback", "label-studio", "import", "--project", str(project),
                             "--url", ls.url, token=personal_token)
        assert imported == {"corrections": 3, "changed": 2, "confirmed": 1, "unannotated": MESSAGES - 4,
                            "cancelled": 1, "empty": 0, "superseded": 0, "unusable": 0, "unusable_first": [],
                            "to": f"kafka:{fb_topic}"}
        records = await consume_until(broker.bootstrap, [fb_topic], lambda rs: len(rs) >= 3)
        on_topic = {r.json()["id"]: r.json() for r in records}
        assert set(on_topic) == {"m0", "m1", "m2"}
        for message_id, record in on_topic.items():
            assert record["who"] == ls.email and record["via"] == "label-studio"
            assert record["text"] == texts[message_id] and record["at"] > 0
        assert (on_topic["m0"]["topic"], on_topic["m0"]["sentiment"]) == (m0["topic"]["label"], m0["sentiment"]["label"])
        assert on_topic["m0"]["model_versions"] == {"topic": m0["topic"]["model"], "sentiment": m0["sentiment"]["model"]}
        assert (on_topic["m1"]["topic"], on_topic["m1"]["sentiment"]) == (other("topic", "m1"), m1["sentiment"]["label"])
        assert on_topic["m1"]["predicted"] == {"topic": m1["topic"]["label"], "sentiment": m1["sentiment"]["label"]}
        assert (on_topic["m2"]["topic"], on_topic["m2"]["sentiment"]) == (None, other("sentiment", "m2"))
        assert on_topic["m2"]["model_versions"] == {"sentiment": m2["sentiment"]["model"]}

        # the daemon takes them as any correction: listed, and the messages leave the review queue
        async def taken() -> bool:
            body = json.loads((await http_get(f"{daemon_url}/api/feedback"))[1])
            return {c["id"] for c in body["corrections"]} == {"m0", "m1", "m2"}

        await wait_until(taken)

        # the same from the Export button's file, named through the API, written for retraining
        export_file = tmp_path / "export.json"
        export_file.write_text(json.dumps(await asyncio.to_thread(
            ls.call, "GET", f"/api/projects/{project}/export?exportType=JSON")))
        from_file = await cli("--config", str(config), "feedback", "label-studio", "import", "--file", str(export_file),
                              "--url", ls.url, "--out", str(tmp_path / "corrections.jsonl"), token=personal_token)
        assert from_file["corrections"] == 3 and from_file["to"] == str(tmp_path / "corrections.jsonl")
        lines = [json.loads(line) for line in (tmp_path / "corrections.jsonl").read_text().splitlines()]
        assert {(c["id"], c["who"]) for c in lines} == {(m, ls.email) for m in ("m0", "m1", "m2")}

        # a project whose config cannot offer the model's labels gets no tasks, and the error says why
        narrow = await asyncio.to_thread(ls.call, "POST", "/api/projects", {
            "title": "narrow", "label_config": '<View><Text name="text" value="$text"/><Choices name="topic" '
                                               'toName="text"><Choice value="sport"/></Choices></View>'})
        code, _, err = await run_cli("--config", str(config), "feedback", "label-studio", "export", "--review",
                                     daemon_url, "--project", str(narrow["id"]), "--url", ls.url, token=personal_token)
        assert code == 2 and f"project {narrow['id']}'s labelling config lacks topic choices" in err
        assert (await asyncio.to_thread(ls.call, "GET", f"/api/projects/{narrow['id']}"))["task_number"] == 0
        review = json.loads((await http_get(f"{daemon_url}/api/review"))[1])
        assert {i["id"] for i in review["items"]} == set(texts) - {"m0", "m1", "m2"}
        _, metrics_text = await http_get(f"{daemon_url}/metrics")
    finally:
        daemon.request_stop()
        assert await run == 0
    assert metric_value(metrics_text, "textmon_feedback_corrections_total", via="label-studio") == 3
    assert metric_value(metrics_text, "textmon_feedback_invalid_total") == 0
