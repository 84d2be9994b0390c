"""create-topics.sh (the Kubernetes Job and compose's kafka-init-tiers) against the real broker.

kafka-topics.sh is ``deploy/local-kafka.sh topics``: the same TopicCommand the apache/kafka image
runs. Topic names are unique per test; partition counts are the Job's own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.deploy.conftest import DEPLOY
from tests.deploy.test_kubernetes_two_tier import OVERLAY, job_env, render
from tests.support.kafka import unique
from tests.support.streams import create_topics

SCRIPT = OVERLAY / "create-topics.sh"


def layout_env(bootstrap: str, partitions: dict[str, str]) -> dict[str, str]:
    """The script's environment: unique topic names, the given partition counts."""
    prefix = unique("tiers")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return env | partitions | {
        "KAFKA_TOPICS": f"{DEPLOY / 'local-kafka.sh'} topics",
        "REPLICATION_FACTOR": "1",
        "MONITOR_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "MONITOR_KAFKA__INPUT_TOPICS": f"{prefix}.in-a,{prefix}.in-b",
        "MONITOR_KAFKA__OUTPUT_TOPIC": f"{prefix}.enriched",
        "MONITOR_KAFKA__DEAD_LETTER_TOPIC": f"{prefix}.deadletter",
        "MONITOR_TIERS__CHANGELOG_TOPIC": f"{prefix}.changelog",
        "MONITOR_TIERS__AGGREGATES_TOPIC": f"{prefix}.aggregates",
        "MONITOR_TIERS__ALERTS_TOPIC": f"{prefix}.alerts",
    }


async def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, ["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                                   timeout=300)


async def describe(bootstrap: str, *topics: str) -> dict[str, tuple[int, str]]:
    """Each topic's partition count and cleanup.policy, as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        counts = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(list(topics))}
        policies = {}
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]):
            for _, _, _, name, entries in response.resources:
                policies[name] = next(value for key, value, *_ in entries if key == "cleanup.policy")
    finally:
        await admin.close()
    return {t: (counts[t], policies[t]) for t in topics}


async def test_the_job_creates_the_layout_the_tiers_rely_on_and_a_rerun_changes_nothing(broker):
    job = job_env(render())
    env = layout_env(broker.bootstrap, {k: job[k] for k in ("INPUT_PARTITIONS", "TIER_PARTITIONS")})
    first = await run_script(env)
    assert first.returncode == 0, first.stderr[-3000:]
    names = {k: env[k] for k in env if k.startswith("MONITOR_") and k != "MONITOR_KAFKA__BOOTSTRAP_SERVERS"}
    inputs = names.pop("MONITOR_KAFKA__INPUT_TOPICS").split(",")
    found = await describe(broker.bootstrap, *inputs, *names.values())
    n_in, n_tier = int(job["INPUT_PARTITIONS"]), int(job["TIER_PARTITIONS"])
    assert found == {
        inputs[0]: (n_in, "delete"), inputs[1]: (n_in, "delete"),
        names["MONITOR_KAFKA__OUTPUT_TOPIC"]: (n_tier, "delete"),
        names["MONITOR_TIERS__CHANGELOG_TOPIC"]: (n_tier, "compact"),  # same count as enriched, compacted
        names["MONITOR_TIERS__AGGREGATES_TOPIC"]: (1, "delete"),  # an event stream: compaction would lose buckets
        names["MONITOR_TIERS__ALERTS_TOPIC"]: (1, "delete"),
        names["MONITOR_KAFKA__DEAD_LETTER_TOPIC"]: (n_in, "delete"),
    }
    again = await run_script(env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert await describe(broker.bootstrap, *found) == found


async def test_a_changelog_that_does_not_line_up_with_the_enriched_topic_fails_the_job(broker):
    env = layout_env(broker.bootstrap, {"INPUT_PARTITIONS": "4", "TIER_PARTITIONS": "4"})
    # enriched created earlier (say, by a producer on a broker that creates topics on first use)
    await create_topics(broker.bootstrap, env["MONITOR_KAFKA__OUTPUT_TOPIC"], partitions=2)
    proc = await run_script(env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"{env['MONITOR_KAFKA__OUTPUT_TOPIC']} has 2 partitions but {env['MONITOR_TIERS__CHANGELOG_TOPIC']} has 4" in proc.stderr


async def test_an_uncompacted_changelog_or_a_partitioned_alerts_topic_fails_the_job(broker):
    env = layout_env(broker.bootstrap, {"INPUT_PARTITIONS": "2", "TIER_PARTITIONS": "2"})
    await create_topics(broker.bootstrap, env["MONITOR_TIERS__CHANGELOG_TOPIC"], partitions=2)
    await create_topics(broker.bootstrap, env["MONITOR_TIERS__ALERTS_TOPIC"], partitions=3)
    proc = await run_script(env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"{env['MONITOR_TIERS__CHANGELOG_TOPIC']} is not compacted" in proc.stderr
    assert f"{env['MONITOR_TIERS__ALERTS_TOPIC']} has 3 partitions; it needs 1" in proc.stderr


def test_compose_creates_the_same_layout_with_the_same_script():
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    init = services["kafka-init-tiers"]
    (mount,) = init["volumes"]
    source, target = mount.split(":")[:2]
    assert (DEPLOY / source).resolve() == SCRIPT
    assert init["entrypoint"] == ["/bin/bash", target]
    assert init["image"] == services["kafka"]["image"]
