"""The Dockerfile passes hadolint, and its build steps and entry point work when replayed here."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

from tests.deploy.conftest import REPO, run_tool
from tests.deploy.dockerfile import Rehearsal, exec_form, lineage, parse
from tests.support.kafka import unique
from tests.support.process import free_port
from tests.support.streams import consume_until, create_topics, produce

DOCKERFILE = REPO / "Dockerfile"


def test_hadolint_passes():
    run_tool("hadolint", "--no-color", str(DOCKERFILE))


def test_targets_user_entry_point_and_healthcheck():
    stages = parse(DOCKERFILE)
    assert {"build", "runtime", "cpu", "cuda"} <= set(stages)
    assert list(stages)[-1] == "cpu", "the default target (last stage) is the CPU image"
    for name in ("cpu", "cuda"):
        chain = lineage(stages, name)
        assert chain[0].name == "runtime"
        final = {i.keyword: i for s in chain for i in s.instructions}
        assert exec_form(final["ENTRYPOINT"].args) + exec_form(final["CMD"].args) == ["monitor", "run"]
        assert final["USER"].args.split(":")[0] not in ("0", "root")
        assert "CMD [" in final["HEALTHCHECK"].args and "/healthz" in final["HEALTHCHECK"].args
        assert final["EXPOSE"].args == "9464"
    bases = {s.base for s in stages.values() if s.base not in stages}
    assert bases == {"${PYTHON_IMAGE}"}
    pinned = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ARG PYTHON_IMAGE="))
    assert pinned.split("=", 1)[1].split(":")[1][0].isdigit(), "the base image is pinned to an exact version"


def _dependency_layer(tmp: Path) -> Path:
    """This environment's third-party packages as a read-only layer, without the project and pip itself.

    Stands in for the cached `pip install` layer of an image build: the rehearsal then installs the
    project from the build context with no index (PIP_NO_INDEX), so every requirement must already be met.
    """
    layer = tmp / "dependency-layer"
    layer.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    own = ("textmon", "__editable__", "monitor", "plugins", "pip")
    for entry in site.iterdir():
        if not entry.name.lower().startswith(own) and entry.suffix != ".pth":
            (layer / entry.name).symlink_to(entry)
    return layer


def _base_python_path(tmp: Path) -> str:
    """A PATH where `python` is the interpreter this environment was made from, as in the base image."""
    bin_dir = tmp / "base-bin"
    bin_dir.mkdir()
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(sys._base_executable)  # noqa: SLF001 - the interpreter behind this venv
    return f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_build_steps_and_entry_point_run_in_a_clean_environment(broker, tmp_path):
    stages = parse(DOCKERFILE)
    layer = _dependency_layer(tmp_path)
    base_env = {"PATH": _base_python_path(tmp_path), "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8",
                "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"}  # "0" turns build isolation off

    def add_layer(r: Rehearsal) -> None:
        # Ahead of the venv's own site-packages, so the layer's setuptools (the build backend the
        # image would fetch in an isolated build) wins over the old one the venv module seeds.
        venv = Path(r.env["VIRTUAL_ENV"])
        pth = next(venv.glob("lib/python3*/site-packages")) / "dependency-layer.pth"
        pth.write_text(f"import sys; sys.path.insert(0, {str(layer)!r})\n")

    build = Rehearsal(REPO, tmp_path / "root", dict(base_env))
    build.run_stage(stages["build"], after_venv=add_layer)
    print("\n".join(build.log))
    assert any(line.startswith("RUN monitor prepare-models") for line in build.log)
    converted = list(Path(build.env["MONITOR_CACHE_DIR"]).glob("encoders/*/model.safetensors"))
    assert converted, "prepare-models left no converted encoder in MONITOR_CACHE_DIR for the runtime stage to copy"

    venv = Path(build.env["VIRTUAL_ENV"])
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import monitor, plugins, pathlib; p = pathlib.Path(monitor.__file__).parent; "
         "print(p); assert (p / 'bundled/status/index.html').is_file(); "
         "assert (p / 'bundled/sample/news-stream.jsonl.gz').is_file()"],
        cwd=tmp_path, capture_output=True, text=True, env=build.env,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).is_relative_to(venv), "the project is installed into the image's venv, not used from the clone"
    copied = build.copy(["."], "/context-check/")
    assert not [c for c in copied if c.startswith(("tests/", ".git/", "deploy/"))], ".dockerignore keeps tests and deploy out"

    # The runtime stage: its environment, ENTRYPOINT + CMD, HEALTHCHECK and STOPSIGNAL, on the build's venv.
    chain = lineage(stages, "cpu")
    runtime = Rehearsal(REPO, build.root, dict(base_env))
    final = {}
    for stage in chain:
        for ins in stage.instructions:
            final[ins.keyword] = ins
            if ins.keyword == "ENV":
                runtime.apply_env(ins.args)
    state = Path(runtime.env["MONITOR_STATE__DIR"])
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    topic = unique("image")
    env = dict(runtime.env, MONITOR_HTTP__PORT=str(port), MONITOR_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap,
               MONITOR_KAFKA__INPUT_TOPICS=topic, MONITOR_KAFKA__GROUP_ID=f"{topic}-group",
               MONITOR_KAFKA__OUTPUT_TOPIC=f"{topic}.enriched", MONITOR_KAFKA__DEAD_LETTER_TOPIC=f"{topic}.dlq")
    asyncio.run(create_topics(broker.bootstrap, topic))
    command = exec_form(final["ENTRYPOINT"].args) + exec_form(final["CMD"].args)
    healthcheck = exec_form(final["HEALTHCHECK"].args.split("CMD", 1)[1].strip())
    assert final["STOPSIGNAL"].args == "SIGTERM"
    workdir = runtime.host(final["WORKDIR"].args)
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(tmp_path / "daemon.log", "wb")
    proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while subprocess.run(healthcheck, cwd=workdir, env=env, capture_output=True, timeout=10).returncode != 0:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "HEALTHCHECK never passed"
            time.sleep(0.3)  # polling the healthcheck of another process, bounded by the deadline
        while not _ready(port):  # consuming, so SIGTERM exercises the drain and the final commit
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(0.3)
        # the shipped bundles, as the image holds them, classify both routes
        asyncio.run(produce(broker.bootstrap, topic, [
            json.dumps({"id": "en", "text": "Bank fined for fraud as shares plunge", "language": "en"}).encode(),
            json.dumps({"id": "zh", "text": "央行宣布降准，股市大涨", "language": "zh"}).encode(),
        ]))
        out = asyncio.run(consume_until(broker.bootstrap, [f"{topic}.enriched"], lambda rs: len(rs) >= 2, timeout=120))
        by_id = {r.json()["id"]: r.json() for r in out}
        assert by_id["en"]["topic"]["label"] == "business" and by_id["zh"]["topic"]["label"] == "business"
        assert by_id["en"]["models"] != by_id["zh"]["models"], "Chinese goes through the multilingual bundle"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=float(env.get("MONITOR_SHUTDOWN_GRACE_SECONDS", 30)) + 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "stopped cleanly" in (tmp_path / "daemon.log").read_text()
