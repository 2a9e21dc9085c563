"""The Prometheus config and alert rules: promtool accepts them and their unit tests pass."""

import pathlib
import shutil
import subprocess

import pytest
import yaml

PROMETHEUS_DIR = pathlib.Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: run `make debian-packages` (Debian's prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_prometheus_config_is_valid():
    checked = promtool("check", "config", str(CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rules_are_valid():
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rule_unit_tests_pass():
    tested = promtool("test", "rules", str(ALERTS_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_config_loads_the_alert_rules():
    config = yaml.safe_load(CONFIG.read_text())
    assert [(CONFIG.parent / path).resolve() for path in config["rule_files"]] == [ALERTS]


def test_unit_tests_load_the_alert_rules():
    tests = yaml.safe_load(ALERTS_TEST.read_text())
    assert [(ALERTS_TEST.parent / path).resolve() for path in tests["rule_files"]] == [ALERTS]


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    cases = [
        case
        for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    names = [rule["alert"] for rule in alert_rules()]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert len(names) == 7
    assert [name for name in names if name not in firing] == []
    assert [name for name in names if name not in quiet] == []


def test_every_alert_has_a_duration_a_severity_a_summary_and_a_description():
    for rule in alert_rules():
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert "$labels.model" in rule["annotations"]["description"], rule["alert"]
