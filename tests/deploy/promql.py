"""Metric names in PromQL expressions and in Prometheus text exposition, for the name checks."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "start", "end", "atan2"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "gauge": ("",),
    "unknown": ("",),
}


def names_in(expr: str) -> set[str]:
    """Metric (or recording-rule) names an expression selects; Grafana variables are ignored."""
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if label_values:
        expr = label_values.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\{?\w+(?::\w+)?\}?", " ", expr)  # $__rate_interval, ${datasource}
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        before = expr[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":  # 1e3, 0.5
            continue
        if expr[m.end():].lstrip().startswith("(") or m.group(0).lower() in _KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics page can carry, including families with no sample yet."""
    out = set()
    for family in text_string_to_metric_families(exposition):
        out.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        out.update(sample.name for sample in family.samples)
    return out


def known_names(exposition: str) -> set[str]:
    """The metric names the daemon exports (every role's metrics are defined in one module)."""
    return exported_names(exposition)