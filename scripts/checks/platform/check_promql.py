#!/usr/bin/env python3
"""Runs every PromQL expression of the PrometheusRules and dashboards against a real Prometheus that
scraped the real service after some traffic. Fails on any query error, and on any metric name with
no series (all but the exporters listed in external-metrics.yaml), so a dashboard or alert can never
name a metric the service does not export.

Setup, all on 127.0.0.1 with free ports, torn down on exit:
  stand-in A (defaults: CORRUPT_RATE 0.1)    <- proxy 1  (corrupt outcomes, retries)
  stand-in B (FAULT_ERROR_RATE=1)            <- proxy 2  (http_error outcomes, 5xx, throttled attempts)
  prometheus scraping both proxies every second, with the rule files loaded (evaluated every second).
Usage: check_promql.py WORKDIR BIN_DIR"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from check_observability import prometheus_rules, walk_panels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, Report, parse_yaml, rel  # noqa: E402

GRAFANA_VARS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "environment": "test"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan", "e"}
NAMESPACE = "document-proxy-test"
PROCS: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    fh = open(log, "w")  # noqa: SIM115 - closed with the process at exit
    proc = subprocess.Popen(args, env={"PATH": "/usr/bin:/bin", **env}, stdout=fh, stderr=subprocess.STDOUT)
    PROCS.append(proc)
    return proc


def get(url: str, timeout: float = 5, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc).encode()


def wait_for(url: str, what: str, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"check_promql: {what} exited with {proc.returncode}; log {log}:\n{log.read_text()[-2000:]}")
        if get(url, timeout=1)[0] == 200:
            return
        time.sleep(0.2)
    sys.exit(f"check_promql: {what} not ready at {url} after {seconds} s; log {log}:\n{log.read_text()[-2000:]}")


def traffic(proxy1: int, proxy2: int, rounds: int) -> None:
    paths = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml", "/docs", "/abc", "/0", "/x/y"]
    for i in range(rounds):
        for n in range(1, 15):
            get(f"http://127.0.0.1:{proxy1}/{i * 15 + n}", headers={"X-Request-Id": f"check-promql-{i}-{n}"})
            get(f"http://127.0.0.1:{proxy2}/{n}")
        for p in paths:
            get(f"http://127.0.0.1:{proxy1}{p}")
        time.sleep(1)


def substitute(expr: str) -> str:
    def sub(m):
        name = m.group(1) or m.group(2)
        if name not in GRAFANA_VARS:
            raise KeyError(name)
        return GRAFANA_VARS[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, expr)


def metric_names(expr: str) -> set[str]:
    s = re.sub(r'"(\\.|[^"\\])*"', '""', expr)           # string literals
    s = re.sub(r"\{[^}]*\}", "", s)                       # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)                      # range/subquery durations
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\b(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if not call and word.lower() not in KEYWORDS and not re.fullmatch(r"\d+[smhdwy]", word):
            names.add(word)
    return names


def expressions() -> list[tuple[str, str]]:
    out = []
    for src, doc in prometheus_rules():
        for g in doc["spec"]["groups"]:
            for r in g["rules"]:
                out.append((f"{rel(src)}: {r.get('alert') or r.get('record')}", r["expr"]))
    for f in sorted((ROOT / "platform" / "dashboards").glob("*.json")):
        for p in walk_panels(json.loads(f.read_text()).get("panels")):
            for t in p.get("targets") or []:
                if (t.get("datasource") or p.get("datasource") or {}).get("type") == "prometheus":
                    out.append((f"{rel(f)}: {p.get('title')} [{t.get('refId')}]", t["expr"]))
    return out


def write_prometheus_config(work: Path, proxy1: int, proxy2: int) -> Path:
    rule_files = []
    for _, doc in prometheus_rules():
        spec = json.loads(json.dumps(doc["spec"]))
        for g in spec["groups"]:
            g["interval"] = "1s"  # same expressions, evaluated often enough for a short test
        path = work / f"live-{doc['metadata']['name']}.rules.yaml"
        path.write_text(yaml.safe_dump(spec))
        rule_files.append(str(path))
    targets = [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NAMESPACE, "pod": f"document-proxy-{i}"}}
               for i, port in ((1, proxy1), (2, proxy2))]
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": rule_files,
              "scrape_configs": [{"job_name": "document-proxy", "static_configs": targets}]}
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def query(prom: int, expr: str) -> tuple[str | None, list]:
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    code, body = get(url, timeout=10)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return f"HTTP {code}: {body[:200]!r}", []
    if data.get("status") != "success":
        return f"{data.get('errorType')}: {data.get('error')}", []
    return None, data["data"]["result"]


def wait_for_recordings(prom: int, seconds: float = 30) -> None:
    """A few more scrapes, then until every recording rule has produced a sample (slow machines)."""
    time.sleep(3)
    records = {r["record"] for _, doc in prometheus_rules() for g in doc["spec"]["groups"] for r in g["rules"] if "record" in r}
    deadline = time.time() + seconds
    while records and time.time() < deadline:
        records = {r for r in records if not query(prom, f'count({{__name__="{r}"}})')[1]}
        time.sleep(0.5)


def run(report: Report, work: Path, bin_dir: Path) -> str:
    ports = {k: free_port() for k in ("up_a", "up_b", "proxy1", "proxy2", "prom")}
    logs = {k: work / f"{k}.log" for k in ports}
    a = start([str(bin_dir / "dummy-pdf-or-png")], {"PORT": str(ports["up_a"])}, logs["up_a"])
    b = start([str(bin_dir / "dummy-pdf-or-png")], {"PORT": str(ports["up_b"]), "FAULT_ERROR_RATE": "1"}, logs["up_b"])
    common_env = {"ENVIRONMENT": "test", "LOG_LEVEL": "warn", "THROTTLE_MIN_REQUESTS": "5", "THROTTLE_WINDOW_MS": "60000"}
    p1 = start([str(bin_dir / "document-proxy")], {**common_env, "PORT": str(ports["proxy1"]),
               "UPSTREAM_URL": f"http://127.0.0.1:{ports['up_a']}"}, logs["proxy1"])
    p2 = start([str(bin_dir / "document-proxy")], {**common_env, "PORT": str(ports["proxy2"]),
               "UPSTREAM_URL": f"http://127.0.0.1:{ports['up_b']}"}, logs["proxy2"])
    for name, proc, port in (("proxy 1", p1, ports["proxy1"]), ("proxy 2", p2, ports["proxy2"])):
        wait_for(f"http://127.0.0.1:{port}/readyz", name, proc, logs["proxy1" if proc is p1 else "proxy2"])
    for proc, log in ((a, logs["up_a"]), (b, logs["up_b"])):
        if proc.poll() is not None:
            sys.exit(f"check_promql: stand-in exited; log {log}:\n{log.read_text()[-2000:]}")
    config = write_prometheus_config(work, ports["proxy1"], ports["proxy2"])
    prom = start(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
                  f"--web.listen-address=127.0.0.1:{ports['prom']}"], {}, logs["prom"])
    wait_for(f"http://127.0.0.1:{ports['prom']}/-/ready", "prometheus", prom, logs["prom"])
    traffic(ports["proxy1"], ports["proxy2"], rounds=8)
    wait_for_recordings(ports["prom"])
    external = {e["name"]: e["source"] for e in parse_yaml((Path(__file__).parent / "external-metrics.yaml").read_text())["external"]}
    exprs = expressions()
    names: dict[str, str] = {}
    empty = 0
    for where, expr in exprs:
        try:
            q = substitute(expr)
        except KeyError as exc:
            report.error(where, f"uses variable ${exc.args[0]} the check does not know (add it to GRAFANA_VARS)")
            continue
        err, result = query(ports["prom"], q)
        if err:
            report.error(where, f"query failed: {err}\n    {q}")
        empty += not result
        for n in metric_names(q):
            names.setdefault(n, where)
    missing = []
    for name, where in sorted(names.items()):
        if name in external:
            continue
        err, result = query(ports["prom"], f'count({{__name__="{name}"}})')
        if err or not result:
            missing.append(name)
            report.error(where, f"metric {name} has no series after scraping the real service "
                                "(not exported? renamed? list it in external-metrics.yaml if another exporter provides it)")
    ok_names = len(names) - len(missing) - len([n for n in names if n in external])
    return (f"{len(exprs)} expressions ran without error ({empty} returned no samples), "
            f"{ok_names} metric names have series, {len([n for n in names if n in external])} from other exporters")


def main() -> None:
    work, bin_dir = Path(sys.argv[1]), Path(sys.argv[2])
    report = Report("promql-live")
    try:
        summary = run(report, work, bin_dir)
    finally:
        for proc in reversed(PROCS):
            proc.terminate()
        for proc in PROCS:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    report.finish(summary)


if __name__ == "__main__":
    main()
