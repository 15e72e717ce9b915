"""Readers of deploy/ shared by the static checks and the Prometheus integration test: the
dashboard's queries with Grafana's variables substituted, QuickFIX settings as dictionaries,
docker-compose services' command-line options."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DASHBOARD",
    "REPO",
    "Query",
    "compose",
    "dashboard",
    "dashboard_queries",
    "options",
    "qf_settings",
    "substitute",
]

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "unwind.json"


@dataclass(frozen=True, slots=True)
class Query:
    panel: str  # the panel's title
    ref: str  # the target's refId
    expr: str  # as written, with Grafana's variables


def dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def panels(dash: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows excluded, panels inside collapsed rows included)."""
    for p in dash["panels"]:
        if p["type"] == "row":
            yield from p.get("panels", [])
        else:
            yield p


def dashboard_queries(dash: Mapping[str, Any]) -> list[Query]:
    return [
        Query(p["title"], t["refId"], t.get("expr", ""))
        for p in panels(dash)
        for t in p.get("targets", [])
    ]


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` as Grafana sends it: ``$name`` / ``${name}`` replaced from ``values`` (template
    variables and Grafana's own, e.g. ``__rate_interval``); an unknown variable is an error."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def compose(path: Path = REPO / "docker-compose.yml") -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def options(command: list[str]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` options of a compose ``command`` list."""
    out: dict[str, str] = {}
    i = 0
    while i < len(command):
        word = command[i]
        if word.startswith("--"):
            if "=" in word:
                k, v = word[2:].split("=", 1)
            else:
                k, v = word[2:], command[i + 1]
                i += 1
            out[k] = v
        i += 1
    return out


def qf_settings(path: Path) -> list[dict[str, str]]:
    """Each [SESSION] of a QuickFIX settings file merged over its [DEFAULT]."""
    default: dict[str, str] = {}
    sessions: list[dict[str, str]] = []
    current = default
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "[DEFAULT]":
            current = default
        elif line == "[SESSION]":
            current = {}
            sessions.append(current)
        else:
            k, v = line.split("=", 1)
            current[k.strip()] = v.strip()
    return [{**default, **s} for s in sessions]
