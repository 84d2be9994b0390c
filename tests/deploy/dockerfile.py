"""Read a Dockerfile into stages, and replay a stage's build steps on this machine.

No Docker engine runs here, so the build is rehearsed: COPY honours .dockerignore, ENV and WORKDIR
apply with the container's absolute paths moved under a temporary root, and RUN lines run through
``/bin/sh -c`` in that order. The only thing the rehearsal adds is the dependency layer (see
``Rehearsal.run_stage``).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    """One Dockerfile instruction with its options (``--from=build``) split off."""

    keyword: str
    args: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Stage:
    """A ``FROM ... AS name`` block."""

    name: str
    base: str
    instructions: list[Instruction]


def parse(path: Path) -> dict[str, Stage]:
    """Stages by name, in file order; continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        options = {}
        while rest.startswith("--"):
            option, _, rest = rest.partition(" ")
            name, _, value = option[2:].partition("=")
            options[name] = value
            rest = rest.lstrip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else f"stage{len(stages)}"
            current = stages[name] = Stage(name, words[0], [])
        elif current is not None:
            current.instructions.append(Instruction(keyword, rest, options))
    return stages


def lineage(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The stage and the stages it is built ``FROM``, base first."""
    chain = [stages[target]]
    while chain[0].base in stages:
        chain.insert(0, stages[chain[0].base])
    return chain


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def _dockerignore(context: Path) -> list[tuple[re.Pattern[str], bool]]:
    rules = []
    path = context / ".dockerignore"
    for line in path.read_text().splitlines() if path.is_file() else []:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((re.compile(regex), negate))
    return rules


@dataclass
class Rehearsal:
    """A build replayed under ``root``: container path ``/x/y`` becomes ``root/x/y``."""

    context: Path
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    log: list[str] = field(default_factory=list)

    def host(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def _map(self, value: str) -> str:
        # Absolute container paths in values (VIRTUAL_ENV=/opt/venv, PATH=/opt/venv/bin:...) move under root.
        return re.sub(r"(^|[:=])(/(?:opt|src|var|etc|home)\b)", lambda m: m.group(1) + str(self.root) + m.group(2), value)

    def _expand(self, value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m.group(1), ""), value)

    def ignored(self, rel: str) -> bool:
        parts = rel.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for regex, negate in _dockerignore(self.context):
            if any(regex.fullmatch(c) for c in (candidates if not negate else [rel])):
                verdict = not negate
        return verdict

    def copy(self, sources: list[str], dest: str) -> list[str]:
        """COPY from the build context, leaving out what .dockerignore excludes; returns the copied paths."""
        target = self.host(dest if dest.startswith("/") else f"{self.workdir}/{dest}")
        copied = []
        for source in sources:
            src = self.context / source
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for f in files:
                rel = f.relative_to(self.context).as_posix()
                if self.ignored(rel):
                    continue
                inner = f.name if src.is_file() else f.relative_to(src).as_posix()
                out = target / inner if (dest.endswith("/") or len(sources) > 1 or src.is_dir()) else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, out)
                copied.append(rel)
        return copied

    def apply_env(self, args: str) -> None:
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            self.env[key] = self._expand(self._map(value))  # literal container paths first, then $VARS

    def run_stage(self, stage: Stage, after_venv: Callable[[Rehearsal], None] | None = None, timeout: float = 600) -> None:
        """Replay ENV, WORKDIR, COPY (from the context) and RUN; ``after_venv`` runs after ``python -m venv``."""
        for ins in stage.instructions:
            if ins.keyword == "ENV":
                self.apply_env(ins.args)
            elif ins.keyword == "WORKDIR":
                self.workdir = ins.args
                self.host(ins.args).mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "COPY" and "from" not in ins.options:
                *sources, dest = shlex.split(ins.args)
                assert self.copy(sources, dest), f"COPY {ins.args} copied nothing (.dockerignore?)"
            elif ins.keyword == "RUN":
                command = ins.args
                self.log.append(f"RUN {command}")
                proc = subprocess.run(["/bin/sh", "-c", command], cwd=self.host(self.workdir), env=self.env,
                                      capture_output=True, text=True, timeout=timeout)
                assert proc.returncode == 0, f"RUN {command}\nexited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                if " -m venv " in f" {command} " and after_venv is not None:
                    after_venv(self)
