"""``monitor feedback label-studio export|import``: the review queue to Label Studio and its annotations back.

``export`` reads the review queue (a running daemon's ``GET /api/review``, or that JSON in a file) and
writes Label Studio tasks and the labelling config to files, or adds the tasks to a project through
the API (``--project ID``, or a new one with ``--title``). ``import`` reads a project's finished
annotations (through the API, or its JSON export in a file) and produces them as corrections to the
feedback topic, where every daemon picks them up, or writes them as JSON lines (``--out``).
Label Studio's address is ``--url`` or ``LABEL_STUDIO_URL``; its token is ``LABEL_STUDIO_API_KEY`` or
the file ``--token-file`` names, never a command-line argument (which any user of the machine could read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from pydantic import SecretStr

from monitor.feedback.corrections import encode_record
from monitor.feedback.labelstudio.annotations import ExportFormatError, from_export
from monitor.feedback.labelstudio.client import LabelStudio, LabelStudioError
from monitor.feedback.labelstudio.tasks import ReviewFormatError, TaskBatch, from_review

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """What the operator got wrong or must fix; printed as is."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """``label-studio`` and its two subcommands under ``monitor feedback`` (the caller sets what runs them)."""
    ls = sub.add_parser("label-studio", help="the review queue out to Label Studio, its annotations back as corrections")
    actions = ls.add_subparsers(dest="ls_action", required=True)
    exp = actions.add_parser("export", help="review queue -> Label Studio tasks with the live model's pre-annotations")
    exp.add_argument("--review", help="the daemon's URL (default: http.host:http.port of the settings) or a file "
                                      "holding GET /api/review's JSON")
    exp.add_argument("--limit", type=int, default=None, help="the most urgent N items only")
    exp.add_argument("--out", type=Path, help="write the tasks as a JSON list (Label Studio's import format)")
    exp.add_argument("--config-out", type=Path, help="write the labelling config (XML)")
    exp.add_argument("--project", type=int, help="add the tasks to this Label Studio project (through its API)")
    exp.add_argument("--title", help="create a Label Studio project of this title with the config, and add the tasks")
    imp = actions.add_parser("import", help="finished Label Studio annotations -> corrections on the feedback topic")
    imp.add_argument("--project", type=int, help="read this project's annotations through the API")
    imp.add_argument("--file", type=Path, help="a project's JSON export (with --url, annotators get their emails)")
    imp.add_argument("--out", type=Path, help="write the corrections as JSON lines instead of producing them")
    imp.add_argument("--topic", help="feedback topic (default: feedback.topic or <first input topic>.feedback)")
    for p in (exp, imp):
        p.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL"),
                       help="Label Studio's base URL (default: LABEL_STUDIO_URL)")
        p.add_argument("--token-file", type=Path, help="file holding the API token (default: LABEL_STUDIO_API_KEY)")
    return ls  # type: ignore[no-any-return]


def run(args: argparse.Namespace, settings: Any) -> int:
    """Run ``args.ls_action``; errors print one line naming what is wrong."""
    try:
        if args.ls_action == "export":
            return _export(args, settings)
        return _import(args, settings)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LabelStudioError, ReviewFormatError, ExportFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _client(args: argparse.Namespace) -> LabelStudio:
    if not args.url:
        raise CommandError("give Label Studio's URL: --url or LABEL_STUDIO_URL")
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CommandError(f"cannot read the token file {args.token_file}: {exc.strerror}") from None
    else:
        token = os.environ.get("LABEL_STUDIO_API_KEY", "").strip()
    if not token:
        raise CommandError("give Label Studio's API token: LABEL_STUDIO_API_KEY or --token-file "
                           "(Label Studio: Account & Settings, Personal Access Token)")
    return LabelStudio(args.url, SecretStr(token))


def _review(args: argparse.Namespace, settings: Any) -> Any:
    source = args.review
    if source and not source.startswith(("http://", "https://")):
        try:
            return json.loads(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read the review queue file {source}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{source} is not JSON ({exc.msg}, line {exc.lineno})") from None
    from monitor.shadow.client import _default_url  # one notion of the daemon's address

    url = (source or _default_url(settings)).rstrip("/") + "/api/review"
    if args.limit is not None:
        url += f"?limit={args.limit}"
    headers = {"Accept": "application/json"}
    if settings.http.auth_token is not None:
        headers["Authorization"] = f"Bearer {settings.http.auth_token.get_secret_value()}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as resp:  # noqa: S310
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise CommandError(f"the daemon at {url} answered HTTP {exc.code}; is http.auth_token set right?") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach the daemon at {url}: {getattr(exc, 'reason', exc)}; is it running, "
                           "and --review (or http.host/http.port) right?") from None


def _export(args: argparse.Namespace, settings: Any) -> int:
    if args.project is not None and args.title:
        raise CommandError("--project adds to an existing project, --title creates one: give one of them")
    pushing = args.project is not None or bool(args.title)
    if not pushing and args.out is None:
        raise CommandError("say where the tasks go: --out FILE, or a project (--project ID or --title TITLE)")
    review = _review(args, settings)
    batch = from_review(review)
    if args.limit is not None:
        batch.tasks = batch.tasks[: args.limit]
    if args.out is not None:
        args.out.write_text(json.dumps(batch.tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.config_out is not None:
        args.config_out.write_text(batch.config, encoding="utf-8")
    summary: dict[str, Any] = {"tasks": len(batch.tasks), "labels": batch.labels, "skipped": batch.skipped[:10]}
    if pushing:
        client = _client(args)
        if args.title:
            project = client.create_project(args.title, batch.config)
        else:
            project = args.project
            _check_config(project, client.project(project).get("label_config", ""), batch)
        summary["project"] = project
        summary["imported"] = client.import_tasks(project, batch.tasks) if batch.tasks else 0
        summary["url"] = f"{client.url}/projects/{project}"
    print(json.dumps(summary, ensure_ascii=False))
    return EXIT_OK


def _check_config(project: int, config: str, batch: TaskBatch) -> None:
    """An existing project must offer every label the model may answer, or annotators could not confirm it."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise CommandError(f"project {project}'s labelling config is not XML: {exc}") from None
    for task, wanted in batch.labels.items():
        offered = {c.get("value") for block in root.iter("Choices") if block.get("name") == task
                   for c in block.iter("Choice")}
        missing = sorted(set(wanted) - offered)
        if missing:
            raise CommandError(f"project {project}'s labelling config lacks {task} choices {missing}; give it the "
                               "config from --config-out, or create a project with --title")


def _import(args: argparse.Namespace, settings: Any) -> int:
    if (args.project is None) == (args.file is None):
        raise CommandError("say where the annotations are: --project ID (through the API) or --file EXPORT.json")
    client = _client(args) if args.project is not None or args.url else None
    if args.file is not None:
        try:
            exported = json.loads(args.file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{args.file} is not JSON ({exc.msg}, line {exc.lineno}); export the project as JSON") from None
    else:
        assert client is not None
        exported = client.export(args.project)
    users = client.users() if client is not None else {}
    conversion = from_export(exported, users)
    corrections = conversion.corrections
    if args.out is not None:
        args.out.write_text("".join(encode_record(c)[1].decode("utf-8") + "\n" for c in corrections), encoding="utf-8")
        target = str(args.out)
    else:
        from monitor.feedback.log import publish
        from monitor.settings import feedback_topic

        topic = args.topic or feedback_topic(settings)
        target = f"kafka:{topic}"
        if corrections:
            try:
                asyncio.run(publish(settings.kafka, topic, corrections))
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                raise LabelStudioError(f"cannot produce to feedback topic {topic!r} on {settings.kafka.bootstrap_servers}: "
                                       f"{exc!r}; is the broker up and the connection in the settings right?") from None
    for problem in conversion.unusable:
        print(f"unusable: {problem}", file=sys.stderr)
    print(json.dumps({**conversion.summary(), "to": target}, ensure_ascii=False))
    return EXIT_OK

