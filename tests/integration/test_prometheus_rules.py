"""promtool over deploy/prometheus: the configuration and the rules are valid, and every
alert's unit tests (alerts_test.yml) pass. Skipped where promtool is absent (Debian package
`prometheus`; .ci/run installs it, so CI runs these)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kit.deploy import REPO

PROM = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)"
)


def _promtool(*args: str, cwd: Path = PROM) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_promtool_check_config_when_shipped_config_then_valid() -> None:
    out = _promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in out


def test_promtool_check_rules_when_shipped_alerts_then_valid() -> None:
    out = _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS: 9 rules found" in out


def test_promtool_test_rules_when_alert_tests_run_then_every_one_passes() -> None:
    _promtool("test", "rules", "alerts_test.yml")


def test_alert_tests_when_read_then_every_alert_is_tested_firing_and_not_firing() -> None:
    import yaml

    alerts = {
        r["alert"]
        for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    fired: set[str] = set()
    quiet: set[str] = set()
    for test in yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]:
        for case in test["alert_rule_test"]:
            (fired if case["exp_alerts"] else quiet).add(case["alertname"])
    assert fired == alerts, f"never tested firing: {alerts - fired}"
    assert quiet == alerts, f"never tested quiet: {alerts - quiet}"
    for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]:
        for r in g["rules"]:
            assert "for" in r and r["labels"]["severity"] in ("critical", "warning"), r["alert"]
            assert {"summary", "description", "runbook"} <= set(r["annotations"]), r["alert"]
