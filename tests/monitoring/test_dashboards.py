"""The Grafana dashboards: provisioned datasource, a query in every panel, valid PromQL."""

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

GRAFANA_DIR = pathlib.Path(__file__).resolve().parents[2] / "monitoring" / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_BUILT_IN = {"type": "grafana", "uid": "-- Grafana --"}
# Grafana's interval variables become a duration, the dashboard's own variables a label value.
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"label_values\((.*),\s*\w+\)")


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def provisioned_uid() -> str:
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return datasource["uid"]


def walk(node, key: str):
    """Every value stored under `key` anywhere in a JSON document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from walk(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value, key)


def panels(dashboard: dict) -> list[dict]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def expressions(dashboard: dict) -> list[str]:
    """Panel and annotation queries, and the series selectors of the variables' queries."""
    found = [expr for expr in walk(dashboard, "expr")]
    for variable in dashboard["templating"]["list"]:
        found.append(LABEL_VALUES.fullmatch(variable["query"]["query"]).group(1))
    return found


def substituted(expr: str) -> str:
    return VARIABLE.sub(
        lambda match: "5m" if (match.group(1) or match.group(2)).startswith("__") else "x", expr
    )


def test_dashboards_exist():
    assert [path.name for path in DASHBOARDS] == [
        "dlwp-audit.json",
        "dlwp-drift.json",
        "dlwp-serving.json",
    ]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_refers_to_the_provisioned_datasource_by_uid(path):
    uid = provisioned_uid()
    for datasource in walk(load(path), "datasource"):
        assert datasource in ({"type": "prometheus", "uid": uid}, GRAFANA_BUILT_IN)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_panel_has_queries(path):
    for panel in panels(load(path)):
        targets = panel.get("targets", [])
        assert targets, panel["title"]
        assert all(target["expr"].strip() for target in targets), panel["title"]
        assert len({target["refId"] for target in targets}) == len(targets), panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_uses_only_its_own_variables(path):
    dashboard = load(path)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used = {
        name
        for expr in expressions(dashboard)
        for pair in VARIABLE.findall(expr)
        for name in pair
        if name and not name.startswith("__")
    }
    assert used <= defined


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_queries_are_valid_promql(path, tmp_path):
    # promtool parses each expression as a recording rule: Prometheus's own PromQL parser.
    rules = [
        {"record": f"query_{index}", "expr": substituted(expr)}
        for index, expr in enumerate(expressions(load(path)))
    ]
    rules_file = tmp_path / "queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: run `make debian-packages` (Debian's prometheus)")
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr + yaml.safe_dump(rules)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_is_provisionable(path):
    dashboard = load(path)
    assert dashboard["uid"] == path.stem
    assert dashboard["schemaVersion"] >= 39
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
