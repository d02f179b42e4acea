#!/usr/bin/env python3
"""What the end-to-end job asserts on the kind cluster scripts/cluster-up brought up:
  applications   every Argo CD Application Synced and Healthy (but --allow-unhealthy ones: Synced)
  environments   every Environment XR Ready
  document       in dev, GET /<id> through the Service returns a sound PDF or PNG with its mime type
                 and an X-Request-Id (remembered for `logs`)
  prometheus     the service's request series for dev, and every recording rule of
                 app/deploy/monitoring/prometheusrule.yaml returns data
  logs           Loki returns the log lines of that request by its request_id
  dashboards     Grafana lists every dashboard of platform/dashboards/
  admission      in document-proxy-prod, a pod whose image is not signed is refused by the signature
                 policy (server-side dry run, so nothing is created)
The k6 smoke runs beside this (scripts/e2e/run). Every check polls until it passes or its deadline
(--timeout seconds each) and then names what it waited for.

All cluster access goes through a Cluster: `kubectl` for Kubernetes objects and admission, HTTP to
port-forwarded Services for the rest. scripts/checks/e2e/test_assert_cluster.py runs these same checks
against recorded answers (scripts/checks/e2e/fixtures/) instead.
Usage: assert_cluster.py [--timeout S] [--allow-unhealthy APP ...] [--only CHECK ...]"""
from __future__ import annotations

import argparse
import base64
import fnmatch
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV = "document-proxy-dev"
PROD = "document-proxy-prod"
# target -> (namespace, service, port) of the port-forwards the real Cluster opens
SERVICES = {"app": (DEV, "document-proxy", 8080),
            "prometheus": ("observability", "kube-prometheus-stack-prometheus", 9090),
            "loki": ("observability", "loki-gateway", 80),
            "grafana": ("observability", "kube-prometheus-stack-grafana", 80)}


class CheckFailed(Exception):
    pass


class Cluster:
    """The real cluster: kubectl, and one `kubectl port-forward` per Service target."""

    def __init__(self) -> None:
        self.forwards: dict[str, tuple[subprocess.Popen, int]] = {}

    def kubectl(self, args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
        proc = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def http(self, target: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        port = self._forward(target)
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (127.0.0.1 only)
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
        except OSError as exc:
            return 0, {}, str(exc).encode()

    def _forward(self, target: str) -> int:
        proc, port = self.forwards.get(target, (None, 0))
        if proc is not None and proc.poll() is None:
            return port
        ns, svc, remote = SERVICES[target]
        proc = subprocess.Popen(["kubectl", "-n", ns, "port-forward", f"svc/{svc}", f":{remote}", "--address", "127.0.0.1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline() if proc.stdout else ""  # "Forwarding from 127.0.0.1:PORT -> REMOTE"
        try:
            port = int(line.split("127.0.0.1:")[1].split()[0])
        except (IndexError, ValueError):
            proc.kill()
            return 0
        self.forwards[target] = (proc, port)
        return port

    def close(self) -> None:
        for proc, _ in self.forwards.values():
            proc.terminate()


def get_json(cluster, args: list[str]) -> dict:
    rc, out, err = cluster.kubectl([*args, "-o", "json"])
    if rc != 0:
        raise CheckFailed(f"kubectl {' '.join(args)}: {err.strip()}")
    return json.loads(out)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def check_applications(cluster, ctx) -> str:
    items = get_json(cluster, ["-n", "argocd", "get", "applications.argoproj.io"])["items"]
    if not items:
        raise CheckFailed("no Argo CD Applications")
    bad = []
    for app in items:
        name, st = app["metadata"]["name"], app.get("status") or {}
        sync, health = (st.get("sync") or {}).get("status"), (st.get("health") or {}).get("status")
        if sync != "Synced" or (health != "Healthy" and not any(fnmatch.fnmatchcase(name, p) for p in ctx["allow_unhealthy"])):
            bad.append(f"{name} {sync}/{health}")
    if bad:
        raise CheckFailed(f"not Synced/Healthy: {', '.join(sorted(bad))}")
    return f"{len(items)} Applications Synced and Healthy"


def check_environments(cluster, ctx) -> str:
    items = get_json(cluster, ["get", "environments.platform.acme-sre.io"])["items"]
    not_ready = [f"{x['metadata']['name']} ({condition(x, 'Ready').get('reason', 'no Ready condition')})"
                 for x in items if condition(x, "Ready").get("status") != "True"]
    if not items or not_ready:
        raise CheckFailed(f"Environment XRs not Ready: {not_ready or 'none found'}")
    return f"{len(items)} Environment XRs Ready"


def sound_document(body: bytes, mime: str) -> str | None:
    """Why the body is not a sound document of that mime type, or None."""
    if mime == "application/pdf":
        return None if body.startswith(b"%PDF-") and b"%%EOF" in body[-1024:] else "not a complete PDF (%PDF- ... %%EOF)"
    if mime == "image/png":
        return None if body.startswith(b"\x89PNG\r\n\x1a\n") and body[-8:-4] == b"IEND" else "not a complete PNG (signature ... IEND)"
    return f"unexpected mime type {mime!r}"


def check_document(cluster, ctx) -> str:
    status, headers, body = cluster.http("app", "/1")
    mime = headers.get("content-type", "").split(";")[0].strip()
    if status != 200:
        raise CheckFailed(f"GET /1 in {DEV}: HTTP {status}: {body[:200]!r}")
    if problem := sound_document(body, mime):
        raise CheckFailed(f"GET /1 in {DEV}: {problem}")
    if not headers.get("x-request-id"):
        raise CheckFailed(f"GET /1 in {DEV}: no X-Request-Id header")
    ctx["request_id"] = headers["x-request-id"]
    return f"GET /1 in {DEV}: {mime}, {len(body)} bytes, request id {ctx['request_id']}"


def prometheus_query(cluster, query: str) -> list:
    status, _, body = cluster.http("prometheus", "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    if status != 200:
        raise CheckFailed(f"Prometheus query {query!r}: HTTP {status}")
    return json.loads(body)["data"]["result"]


def recording_rules() -> list[str]:
    doc = yaml.safe_load((ROOT / "app/deploy/monitoring/prometheusrule.yaml").read_text())
    return [r["record"] for g in doc["spec"]["groups"] for r in g["rules"] if "record" in r]


def check_prometheus(cluster, ctx) -> str:
    series = f'document_proxy_http_request_duration_seconds_count{{namespace="{DEV}"}}'
    if not prometheus_query(cluster, series):
        raise CheckFailed(f"Prometheus has no {series}")
    empty = [r for r in recording_rules() if not prometheus_query(cluster, f'{r}{{namespace="{DEV}"}}')]
    if empty:
        raise CheckFailed(f"recording rules without data for {DEV}: {', '.join(empty)}")
    return f"request series and {len(recording_rules())} recording rules have data for {DEV}"


def check_logs(cluster, ctx) -> str:
    rid = ctx.get("request_id")
    if not rid:
        raise CheckFailed("no request id (the document check did not pass)")
    query = f'{{service="document-proxy", environment="dev"}} |= "{rid}"'
    params = urllib.parse.urlencode({"query": query, "limit": 100, "since": "1h"})
    status, _, body = cluster.http("loki", "/loki/api/v1/query_range?" + params)
    if status != 200:
        raise CheckFailed(f"Loki query {query!r}: HTTP {status}: {body[:200]!r}")
    lines = [v[1] for s in json.loads(body)["data"]["result"] for v in s["values"]]
    if not any(rid in line for line in lines):
        raise CheckFailed(f"Loki has no log line with request_id {rid}")
    return f"Loki returns {len(lines)} log lines of request {rid}"


def check_dashboards(cluster, ctx) -> str:
    rc, out, err = cluster.kubectl(["-n", "observability", "get", "secret", "grafana-admin", "-o",
                                    "jsonpath={.data.admin-user}:{.data.admin-password}"])
    if rc != 0:
        raise CheckFailed(f"Secret observability/grafana-admin: {err.strip()}")
    user, password = (base64.b64decode(p).decode() for p in out.split(":"))
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    status, _, body = cluster.http("grafana", "/api/search?type=dash-db", {"Authorization": f"Basic {auth}"})
    if status != 200:
        raise CheckFailed(f"Grafana /api/search: HTTP {status}")
    listed = {d.get("uid") for d in json.loads(body)}
    want = {json.loads(f.read_text())["uid"] for f in (ROOT / "platform/dashboards").glob("*.json")}
    if want - listed:
        raise CheckFailed(f"Grafana does not list dashboards {sorted(want - listed)}")
    return f"Grafana lists {sorted(want)}"


UNSIGNED_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e2e-unsigned", "namespace": PROD},
    "spec": {"automountServiceAccountToken": False,
             "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{"name": "unsigned",
                             # the allowed repository by digest, so only the signature rule can refuse it
                             "image": "ghcr.io/acme-sre/document-proxy@sha256:" + "0" * 64,
                             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
                             "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                 "capabilities": {"drop": ["ALL"]}}}]},
}


def check_admission(cluster, ctx) -> str:
    rc, out, err = cluster.kubectl(["create", "--dry-run=server", "-f", "-"], stdin=json.dumps(UNSIGNED_POD))
    if rc == 0:
        raise CheckFailed(f"an unsigned image was admitted into {PROD}: {out.strip()}")
    if "prod-release-signature" not in err:
        raise CheckFailed(f"the unsigned pod was refused, but not by the signature policy: {err.strip()[:300]}")
    return f"unsigned image refused in {PROD} by prod-release-signature"


CHECKS = {"applications": check_applications, "environments": check_environments, "document": check_document,
          "prometheus": check_prometheus, "logs": check_logs, "dashboards": check_dashboards,
          "admission": check_admission}


def run_checks(cluster, names: list[str], timeout: float, allow_unhealthy: list[str], interval: float = 10,
               clock=time.monotonic, sleep=time.sleep) -> list[str]:
    """Runs each check until it passes or `timeout` seconds pass; returns the failures."""
    ctx: dict = {"allow_unhealthy": set(allow_unhealthy)}
    failures = []
    for name in names:
        deadline = clock() + timeout
        while True:
            try:
                print(f"  ok   {name}: {CHECKS[name](cluster, ctx)}", flush=True)
                break
            except (CheckFailed, KeyError, ValueError, json.JSONDecodeError) as exc:
                if clock() >= deadline:
                    failures.append(f"{name}: timed out after {timeout:g}s waiting: {exc}")
                    print(f"  FAIL {failures[-1]}", file=sys.stderr, flush=True)
                    break
                sleep(interval)
    return failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=300, help="seconds each check may take (default 300)")
    ap.add_argument("--allow-unhealthy", nargs="*", default=[], metavar="APP",
                    help="Applications (glob patterns) that must be Synced but may be unhealthy")
    ap.add_argument("--only", nargs="*", choices=list(CHECKS), default=list(CHECKS), metavar="CHECK")
    args = ap.parse_args()
    cluster = Cluster()
    try:
        failures = run_checks(cluster, args.only, args.timeout, args.allow_unhealthy)
    finally:
        cluster.close()
    if failures:
        sys.exit(f"assert_cluster: {len(failures)} of {len(args.only)} checks failed")
    print(f"assert_cluster: all {len(args.only)} checks passed")


if __name__ == "__main__":
    main()
