#!/usr/bin/env python3
"""Alerts and dashboards as code, statically:
- every PrometheusRule (plain files under app/deploy/ and platform/) passes `promtool check rules`
  and its unit tests `<rule file stem>.test.yaml` (next to it) pass `promtool test rules`;
- every alert that watches scrape targets (`up`) fires in a test case with no `up` series at all;
- every alert has a unit test, a severity (page|ticket), summary, description and a runbook_url
  that points at an existing file in docs/runbooks/;
- every dashboard JSON in platform/dashboards/ parses, is listed in its kustomization, has a unique
  uid, uses only the provisioned datasources (prometheus, loki) and defines the variables it uses;
- the Alertmanager configuration in the kube-prometheus-stack values passes `amtool check-config`
  (when amtool, Debian package prometheus-alertmanager, is installed; otherwise a note says so).
Usage: check_observability.py WORKDIR (a temp folder for the extracted rule files)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, Report, load_docs, parse_yaml, rel, walk_files  # noqa: E402

RUNBOOK_PREFIX = "https://github.com/acme-sre/document-proxy-platform/blob/main/"
DATASOURCES = {"prometheus": "prometheus", "loki": "loki"}
BUILTIN_VARS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s", "__from", "__to"}


def prometheus_rules() -> list[tuple[Path, dict]]:
    out = []
    for top in ("app/deploy", "platform"):
        for f in walk_files(ROOT / top, suffixes=(".yaml",)):
            out += [(f, d) for d in load_docs(f) if isinstance(d, dict) and d.get("kind") == "PrometheusRule"]
    return out


def promtool(report: Report, where: str, *args: str) -> bool:
    proc = subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        report.error(where, f"promtool {args[0]} {args[1]} failed:\n{proc.stdout}{proc.stderr}")
        return False
    return True


def check_rules(report: Report, workdir: Path) -> int:
    alerts_total = 0
    for src, doc in prometheus_rules():
        where = f"{rel(src)} ({doc['metadata']['name']})"
        rule_file = workdir / f"{doc['metadata']['name']}.rules.yaml"
        rule_file.write_text(yaml.safe_dump(doc["spec"], sort_keys=False))
        promtool(report, where, "check", "rules", str(rule_file))
        alerts = [r for g in doc["spec"]["groups"] for r in g["rules"] if "alert" in r]
        alerts_total += len(alerts)
        for r in alerts:
            here = f"{where}: alert {r['alert']}"
            ann, labels = r.get("annotations") or {}, r.get("labels") or {}
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    report.error(here, f"no {key} annotation")
            if labels.get("severity") not in ("page", "ticket"):
                report.error(here, f"severity label must be page or ticket, not {labels.get('severity')!r}")
            url = ann.get("runbook_url", "")
            target = url[len(RUNBOOK_PREFIX):].split("#")[0] if url.startswith(RUNBOOK_PREFIX) else None
            if not target or not target.startswith("docs/runbooks/") or not (ROOT / target).is_file():
                report.error(here, f"runbook_url {url!r} does not point at a file in docs/runbooks/")
        test = src.with_name(src.stem + ".test.yaml")
        if not test.is_file():
            report.error(where, f"no promtool unit test file {rel(test)}")
            continue
        tests = parse_yaml(test.read_text())
        if tests.get("rule_files") != [rule_file.name]:
            report.error(rel(test), f"rule_files must be [{rule_file.name}] (the extracted spec)")
        tested = {t["alertname"] for case in tests.get("tests") or [] for t in case.get("alert_rule_test") or []}
        fired = {t["alertname"] for case in tests.get("tests") or [] for t in case.get("alert_rule_test") or [] if t.get("exp_alerts")}
        for r in alerts:
            if r["alert"] not in fired:
                report.error(rel(test), f"alert {r['alert']} has no test case that expects it to fire")
        check_absence_tested(report, rel(test), alerts, tests)
        for name in tested - {r["alert"] for r in alerts}:
            report.error(rel(test), f"tests alert {name}, which the rule file does not define")
        shutil.copy(test, workdir / test.name)
        promtool(report, rel(test), "test", "rules", str(workdir / test.name))
    return alerts_total


TARGET_SERIES = re.compile(r"(?<![\w:])up\s*\{")


def check_absence_tested(report: Report, where: str, alerts: list[dict], tests: dict) -> None:
    """An alert that watches scrape targets (`up{...}`) must fire in a test with no `up` series at
    all: `up == 0` returns nothing when there are no targets (pods refused, scaled to zero, a
    ServiceMonitor selecting nothing), so only a test without the series shows absence is covered."""
    for r in alerts:
        if not TARGET_SERIES.search(r["expr"]):
            continue
        ok = any(not any(re.match(r"up\s*(\{|$)", i.get("series", "")) for i in case.get("input_series") or [])
                 and any(t["alertname"] == r["alert"] and t.get("exp_alerts") for t in case.get("alert_rule_test") or [])
                 for case in tests.get("tests") or [])
        if not ok:
            report.error(where, f"alert {r['alert']} watches targets (up) but no test case without any `up` series "
                                "expects it to fire (absent targets would go unnoticed)")


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def check_dashboards(report: Report) -> int:
    folder = ROOT / "platform" / "dashboards"
    kust = parse_yaml((folder / "kustomization.yaml").read_text())
    listed = {f for g in kust.get("configMapGenerator") or [] for f in g.get("files") or []}
    uids: dict[str, str] = {}
    files = sorted(folder.glob("*.json"))
    for f in files:
        where = rel(f)
        if f.name not in listed:
            report.error(where, "not listed in platform/dashboards/kustomization.yaml (Grafana would never see it)")
        try:
            dash = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            report.error(where, f"invalid JSON: {exc}")
            continue
        if dash.get("uid") in uids:
            report.error(where, f"uid {dash.get('uid')} also used by {uids[dash['uid']]}")
        uids[dash.get("uid")] = where
        defined = {v["name"] for v in (dash.get("templating") or {}).get("list") or []}
        for p in walk_panels(dash.get("panels")):
            for t in [p] + (p.get("targets") or []):
                ds = t.get("datasource")
                if isinstance(ds, dict) and DATASOURCES.get(ds.get("type")) != ds.get("uid"):
                    report.error(where, f"panel {p.get('title')!r}: datasource {ds} is not a provisioned one {DATASOURCES}")
            for t in p.get("targets") or []:
                expr = t.get("expr", "")
                if not expr.strip():
                    report.error(where, f"panel {p.get('title')!r} target {t.get('refId')}: empty expr")
                for var in re.findall(r"\$\{?(\w+)", expr):
                    if var not in defined and var not in BUILTIN_VARS:
                        report.error(where, f"panel {p.get('title')!r}: variable ${var} is not defined")
    return len(files)


def check_alertmanager(report: Report, workdir: Path) -> str:
    where = "platform/kube-prometheus-stack/values.yaml"
    if not shutil.which("amtool"):
        report.note("alertmanager.config not checked: amtool missing (Debian package prometheus-alertmanager)")
        return "alertmanager config not checked (no amtool)"
    config = parse_yaml((ROOT / where).read_text())["alertmanager"]["config"]
    path = workdir / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        report.error(where, f"amtool check-config failed:\n{proc.stdout}{proc.stderr}")
    return "alertmanager config passes amtool"


def main() -> None:
    report = Report("observability")
    workdir = Path(sys.argv[1])
    alerts = check_rules(report, workdir)
    dashboards = check_dashboards(report)
    am = check_alertmanager(report, workdir)
    report.finish(f"{alerts} alerts, all unit-tested with runbooks; {dashboards} dashboards; {am}")


if __name__ == "__main__":
    main()
