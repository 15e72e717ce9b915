"""deploy/, the Dockerfile and docker-compose.yml checked without Docker: every file copied or
mounted exists, and hosts and ports agree between the compose file, the engine's compose
configuration, the QuickFIX files, Prometheus's scrape targets and Grafana's provisioning.
No Docker engine runs on these machines; this is what can be known from the files."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from engine.cli import main
from engine.daemon import load_daemon_config
from tests.kit.deploy import (
    REPO,
    compose,
    dashboard,
    dashboard_queries,
    options,
    panels,
    qf_settings,
)

COMPOSE = compose()
SERVICES: dict[str, Any] = COMPOSE["services"]
APP = PurePosixPath("/app")  # the image's WORKDIR: the repository's root (Dockerfile)
ENGINE_TOML = REPO / "deploy" / "compose" / "engine.toml"
PROMETHEUS = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())


def _in_repo(container_path: str) -> Path:
    """A path inside the unwind image, relative to WORKDIR or under /app, as a repo path."""
    p = PurePosixPath(container_path)
    if p.is_absolute():
        return REPO / p.relative_to(APP)
    return REPO / p


def _cmd(service: str) -> dict[str, str]:
    return options(SERVICES[service]["command"])


def _targets(job: str) -> list[tuple[str, int]]:
    (scrape,) = [s for s in PROMETHEUS["scrape_configs"] if s["job_name"] == job]
    out = []
    for group in scrape["static_configs"]:
        for t in group["targets"]:
            host, port = t.rsplit(":", 1)
            out.append((host, int(port)))
    return out


def _published(service: str) -> dict[int, str]:
    """Container port -> the host address it is published on."""
    out = {}
    for spec in SERVICES[service].get("ports", []):
        host_ip, host_port, container_port = spec.split(":")
        assert host_port == container_port, spec
        out[int(container_port)] = host_ip
    return out


def _bind_mounts() -> list[tuple[str, str, str]]:
    """(service, repository path, container path) of every bind mount."""
    out = []
    for name, svc in SERVICES.items():
        for spec in svc.get("volumes", []):
            source, target = spec.split(":")[:2]
            if source.startswith((".", "/")):
                out.append((name, source, target))
    return out


# --- Dockerfile ------------------------------------------------------------------------------


def _dockerfile_copies() -> list[str]:
    sources = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        words = shlex.split(line) if line.startswith("COPY ") else []
        if words and not any(w.startswith("--from") for w in words):
            sources.extend(words[1:-1])
    return sources


def test_dockerfile_when_copying_from_the_context_then_every_source_exists_and_is_not_ignored() -> (
    None
):
    sources = _dockerfile_copies()
    assert {"pyproject.toml", "engine", "adapters", "strategies", "risk", "deploy"} <= set(sources)
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for src in sources:
        assert (REPO / src).exists(), f"Dockerfile copies {src}, which does not exist"
        ignored = False
        for rule in rules:  # the last matching rule wins, as in Docker
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(src, pattern):
                ignored = not negated
        assert not ignored, f".dockerignore leaves {src} out of the build context"


def test_dockerfile_then_the_runtime_is_not_root_and_runs_the_engine() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)
    runtime = stages[-1]
    assert re.search(r"^USER unwind$", runtime, re.M), "the runtime stage must drop root"
    assert "g++" not in runtime  # the compiler stays in the QuickFIX stage
    assert 'CMD ["run", "--config", "deploy/compose/engine.toml"]' in runtime
    # The QuickFIX build is a stage of its own, copying nothing from the repository, so its
    # layers are cached until its pin changes.
    quickfix = next(s for s in stages if s.lstrip().startswith("${PYTHON} AS quickfix"))
    assert "pip wheel" in quickfix
    assert "COPY" not in quickfix


# --- docker-compose.yml: files --------------------------------------------------------------


def test_compose_when_mounting_repository_files_then_each_exists() -> None:
    mounts = _bind_mounts()
    assert {(s, src) for s, src, _ in mounts} >= {
        ("prometheus", "./deploy/prometheus"),
        ("grafana", "./deploy/grafana/provisioning"),
        ("grafana", "./deploy/grafana/dashboards"),
    }
    for service, source, _ in mounts:
        assert (REPO / source).exists(), f"{service} mounts {source}, which does not exist"


def test_compose_when_naming_volumes_then_each_is_declared() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name, svc in SERVICES.items():
        for spec in svc.get("volumes", []):
            source = spec.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_compose_when_commands_name_config_files_then_they_exist_in_the_image() -> None:
    for name in ("fixsim", "engine", "oms-demo"):
        opts = _cmd(name)
        config = opts["config"]
        assert _in_repo(config).is_file(), f"{name}: --config {config} is not in the image"


def test_compose_engine_config_then_it_validates_like_unwind_run_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--config", str(ENGINE_TOML), "--check"]) == 0, capsys.readouterr().err


# --- ports and hostnames ---------------------------------------------------------------------


def test_fix_venue_when_engine_connects_then_host_and_port_are_the_simulators() -> None:
    cfg = load_daemon_config(ENGINE_TOML)
    (venue,) = qf_settings(cfg.venue.settings)
    sim_sessions = qf_settings(_in_repo(_cmd("fixsim")["config"]))
    fix_port = int(_cmd("fixsim")["fix-port"])
    assert venue["SocketConnectHost"] == "fixsim" and "fixsim" in SERVICES
    assert int(venue["SocketConnectPort"]) == fix_port
    assert cfg.venue.port in (None, fix_port) and cfg.venue.host in (None, "fixsim")
    for s in sim_sessions:
        assert int(s["SocketAcceptPort"]) == fix_port
        assert s["SocketAcceptHost"] == "0.0.0.0"  # reachable from the engine's container
    # The engine's session is one the simulator accepts (CompIDs mirrored, same version).
    assert any(
        (s["BeginString"], s["SenderCompID"], s["TargetCompID"])
        == (venue["BeginString"], venue["TargetCompID"], venue["SenderCompID"])
        for s in sim_sessions
    )


def test_oms_when_demo_connects_then_host_and_port_are_the_engines() -> None:
    cfg = load_daemon_config(ENGINE_TOML)
    (acceptor,) = qf_settings(cfg.oms.settings)
    (client,) = qf_settings(_in_repo(_cmd("oms-demo")["config"]))
    port = int(acceptor["SocketAcceptPort"])
    assert acceptor["SocketAcceptHost"] == "0.0.0.0"
    assert cfg.oms.port in (None, port)
    assert client["SocketConnectHost"] == "engine" and "engine" in SERVICES
    assert int(client["SocketConnectPort"]) == port == int(_cmd("oms-demo")["port"])
    assert (client["SenderCompID"], client["TargetCompID"]) == (
        acceptor["TargetCompID"],
        acceptor["SenderCompID"],
    )
    assert _published("engine")[port] == "127.0.0.1"


def test_prometheus_when_scraping_then_targets_are_the_services_metrics_ports() -> None:
    cfg = load_daemon_config(ENGINE_TOML)
    assert cfg.rest is not None and cfg.rest.host == "0.0.0.0"
    assert _targets("unwind-engine") == [("engine", cfg.rest.port)]
    sim = _cmd("fixsim")
    assert sim["metrics-host"] == "0.0.0.0"
    assert _targets("unwind-fixsim") == [("fixsim", int(sim["metrics-port"]))]
    assert _published("engine")[cfg.rest.port] == "127.0.0.1"
    for f in PROMETHEUS["rule_files"]:
        assert (REPO / "deploy" / "prometheus" / f).is_file()
    # The compose Prometheus reads this very file.
    (mount,) = [t for s, src, t in _bind_mounts() if src == "./deploy/prometheus"]
    assert f"--config.file={mount}/prometheus.yml" in SERVICES["prometheus"]["command"]


def test_every_published_port_is_on_loopback_only() -> None:
    for name in SERVICES:
        for port, host in _published(name).items():
            assert host == "127.0.0.1", f"{name} publishes {port} on {host}"


# --- Grafana ---------------------------------------------------------------------------------


def _grafana_target(source: str) -> PurePosixPath:
    (target,) = [t for s, src, t in _bind_mounts() if s == "grafana" and src == source]
    return PurePosixPath(target)


def test_grafana_datasource_when_provisioned_then_it_points_at_the_prometheus_service() -> None:
    prov = REPO / "deploy" / "grafana" / "provisioning"
    assert _grafana_target("./deploy/grafana/provisioning") == PurePosixPath(
        "/etc/grafana/provisioning"
    )
    (ds,) = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    listen = options(SERVICES["prometheus"]["command"])["web.listen-address"]
    assert ds["type"] == "prometheus"
    assert ds["url"] == f"http://prometheus:{listen.rsplit(':', 1)[1]}"
    uids = {
        p["datasource"]["uid"] for p in panels(dashboard()) if isinstance(p.get("datasource"), dict)
    }
    assert uids == {ds["uid"]}, "every panel must name the provisioned datasource"


def test_grafana_dashboards_when_provisioned_then_the_provider_path_holds_the_json() -> None:
    prov = REPO / "deploy" / "grafana" / "provisioning" / "dashboards"
    (provider,) = yaml.safe_load((prov / "unwind.yml").read_text())["providers"]
    mounted = _grafana_target("./deploy/grafana/dashboards")
    assert PurePosixPath(provider["options"]["path"]) == mounted
    assert list((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "deploy/grafana/dashboards" / PurePosixPath(home).relative_to(mounted)).is_file()


def test_dashboard_when_parsed_then_every_panel_has_a_prometheus_query_and_says_what_it_is() -> (
    None
):
    dash = dashboard()
    shown = list(panels(dash))
    assert len(shown) >= 25
    assert len({p["id"] for p in shown}) == len(shown)
    for p in shown:
        assert p.get("description"), f"panel {p['title']!r} has no description"
        targets = p.get("targets", [])
        assert targets and all(t.get("expr", "").strip() for t in targets), p["title"]
    queries = " ".join(q.expr for q in dashboard_queries(dash))
    # What the desk reads (issue 8), each somewhere on the dashboard.
    for family in (
        "unwind_parent_filled_ratio",
        "unwind_parent_schedule_deviation_ratio",
        "unwind_parent_participation_ratio",
        "unwind_parent_participation_cap_ratio",
        "unwind_regime",
        "unwind_volatility",
        "unwind_adversarial_score",
        "unwind_parent_shortfall_bps",
        "unwind_child_orders_sent_total",
        "unwind_child_orders_rejected_total",
        "unwind_child_ack_latency_seconds_bucket",
        "unwind_decision_latency_seconds_bucket",
        "unwind_event_loop_lag_seconds_bucket",
        "unwind_journal_write_seconds_bucket",
        "unwind_gate_verdicts_total",
        "unwind_trading_state",
        "unwind_breaker_trips_total",
        "unwind_fix_session_up",
        "unwind_fix_messages_total",
        "unwind_fix_resend_requests_total",
        "unwind_fix_rejects_total",
        "unwind_market_data_last_timestamp_seconds",
        "unwind_market_data_stale",
    ):
        assert family in queries, f"no panel reads {family}"
    heatmaps = [p for p in shown if p["type"] == "heatmap"]
    assert len(heatmaps) == 4
    for p in heatmaps:  # Prometheus buckets, as Grafana's heatmap needs them
        (t,) = p["targets"]
        assert t["format"] == "heatmap" and "_bucket" in t["expr"] and "by (le)" in t["expr"]
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert variables == {"parent", "symbol"}


def test_alert_runbooks_when_followed_then_each_is_a_section_of_the_operations_guide() -> None:
    doc = (REPO / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", doc, re.M)
    }
    rules = [
        r
        for g in yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    for r in rules:
        page, anchor = r["annotations"]["runbook"].split("#")
        assert page == "docs/operations.md" and anchor in anchors, r["alert"]
