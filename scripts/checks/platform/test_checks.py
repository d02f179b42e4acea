#!/usr/bin/env python3
"""The platform checks catch the defects they guard against: each case copies the repository's
platform files into a temporary folder, injects one defect there, runs the check on the copy and
expects it to fail with a message naming the defect. The unmodified copy must pass every check
first (so a case cannot pass because the check fails for another reason).
Usage: test_checks.py SCHEMA_LOCATION [case name substring ...]"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COPIED = ("argocd", "platform", "crossplane", "environments", "app/deploy", "scripts/checks/lib", "scripts/checks/platform",
          "scripts/cluster-up", "docs/runbooks")


def sub(path: str, old: str, new: str, count: int = 1):
    """An injection: replace `old` (a literal or a re.Pattern) in one file of the copy."""
    def apply(root: Path) -> None:
        f = root / path
        text = f.read_text()
        if isinstance(old, re.Pattern):
            changed, n = old.subn(new, text, count=count)
        else:
            n = text.count(old)
            changed = text.replace(old, new, count)
        if not n:
            raise AssertionError(f"injection does not apply: {old!r} not in {path}")
        f.write_text(changed)
    return apply


def write(path: str, text: str):
    def apply(root: Path) -> None:
        (root / path).write_text(text)
    return apply


UNSCOPED_IVPOL = """apiVersion: policies.kyverno.io/v1
kind: ImageValidatingPolicy
metadata:
  name: injected
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [pods]
  validations:
    - expression: "true"
"""

EVERY_ENVIRONMENT = """apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: every-environment
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - git:
        repoURL: https://github.com/acme-sre/document-proxy-platform.git
        revision: main
        directories:
          - path: environments/*
  template:
    metadata:
      name: "document-proxy-{{.path.basename}}"
    spec:
      project: apps
      source:
        repoURL: https://github.com/acme-sre/document-proxy-platform.git
        targetRevision: main
        path: "{{.path.path}}"
      destination:
        server: https://kubernetes.default.svc
        namespace: "document-proxy-{{.path.basename}}"
"""

# (name, check script, injections, expected message pattern)
CASES = [
    ("defect 1: tokenRef to a Secret nothing creates", "check_clusters.py",
     [sub("argocd/preview/applicationset.yaml", "          labels:\n            - preview\n",
          "          labels:\n            - preview\n          tokenRef:\n            secretName: github-token\n            key: token\n")],
     r"kind: references Secret argocd/github-token, which nothing creates"),
    ("defect 1: the demo needs an operator's Secret", "check_clusters.py",
     [sub("argocd/clusters/kind/cluster.yaml", "createdBy: scripts/cluster-up", "createdBy: operator")],
     r"demo cluster needs Secret observability/grafana-admin from an operator"),
    ("defect 1: cluster-up does not create a Secret it is said to", "check_clusters.py",
     [sub("scripts/cluster-up", "-n observability create secret generic grafana-admin", "-n observability get secret grafana-admin")],
     r"declared as created by scripts/cluster-up, which does not"),
    ("defect 2: an ApplicationSet over every environment folder", "check_clusters.py",
     [write("argocd/apps/every-environment.yaml", EVERY_ENVIRONMENT),
      sub("argocd/apps/kustomization.yaml", "  - grafana-dashboards.yaml\n", "  - grafana-dashboards.yaml\n  - every-environment.yaml\n")],
     r"prod: ApplicationSets \['every-environment'\] generate Applications outside the declared environments"),
    ("defect 2: a prod cluster declares dev", "check_clusters.py",
     [sub("argocd/clusters/prod/cluster.yaml", "    - env: prod\n", "    - env: prod\n    - env: dev\n")],
     r"a prod cluster runs environment dev of tier 'dev'"),
    ("defect 2: previews on a cluster that does not declare them", "check_clusters.py",
     [sub("argocd/clusters/prod/kustomization.yaml", "  - ../../apps\n", "  - ../../apps\n  - ../../preview\n")],
     r"previews: False in cluster.yaml, but the preview ApplicationSet is rendered"),
    ("defect 3: explicit finalizer under preserveResourcesOnDeletion", "check_clusters.py",
     [sub("argocd/environments/document-proxy.yaml", "        platform.acme-sre.io/environment: \"{{.env}}\"\n",
          "        platform.acme-sre.io/environment: \"{{.env}}\"\n      finalizers:\n        - resources-finalizer.argocd.argoproj.io\n")],
     r"ApplicationSet document-proxy promises preserveResourcesOnDeletion"),
    ("defect 4: fail-closed ClusterPolicy webhook called for every namespace", "check_webhooks.py",
     [sub("platform/kyverno/policies/prod-release-signature.yaml",
          re.compile(r"    matchConditions:\n      - name: document-proxy-prod-only\n.*\n"), "")],
     r"prod-release-signature: fails closed and guards \['document-proxy-prod'\], but its webhook is called for every"),
    ("defect 4: fail-closed ImageValidatingPolicy without a namespace selector", "check_webhooks.py",
     [write("platform/kyverno/policies/injected.yaml", UNSCOPED_IVPOL)],
     r"ImageValidatingPolicy injected: fails closed \(failurePolicy Fail\) for every namespace"),
    ("defect 4: production Kyverno with one admission replica", "check_clusters.py",
     [sub("platform/kyverno/values-prod.yaml", "  replicas: 3\n", "  replicas: 1\n")],
     r"a production Kyverno needs admissionController.replicas >= 3 \(has 1\)"),
    ("defect 5: DocumentProxyDown blind to absent targets", "check_observability.py",
     [sub("app/deploy/monitoring/prometheusrule.yaml", re.compile(r"            or absent\(up\{job=\"document-proxy\"\}\)\n"), "")],
     r"promtool test rules failed:[\s\S]*DocumentProxyDown"),
    ("defect 5: no test without up series", "check_observability.py",
     [sub("app/deploy/monitoring/prometheusrule.test.yaml", re.compile(r"- interval: 1m\n  input_series: \[\]\n[\s\S]*?(?=- interval: 1m\n)"), "")],
     r"alert DocumentProxyDown watches targets \(up\) but no test case without any `up` series"),
    ("defect 6: production Prometheus on emptyDir", "check_clusters.py",
     [sub("platform/kube-prometheus-stack/values-prod.yaml", "    storageSpec:\n", "    storageSpecDisabled:\n")],
     r"kube-prometheus-stack\): production values do not persist to a volume: prometheus.prometheusSpec.storageSpec"),
    ("defect 6: production Loki write path without volumes", "check_clusters.py",
     [sub("platform/loki/values-prod.yaml", re.compile(r"(write:\n  replicas: 3\n  persistence:\n    volumeClaimsEnabled:) true"), r"\1 false")],
     r"Application loki \(chart loki\): production values do not persist to a volume: write.persistence.volumeClaimsEnabled"),
    ("defect 7: metrics-server on a managed cluster", "check_clusters.py",
     [sub("argocd/clusters/prod/kustomization.yaml", "  - ../../apps\n", "  - ../../apps\n  - ../../apps/metrics-server\n")],
     r"prod: runs metrics-server on a managed cluster"),
    ("defect 8: Grafana admin password left at the chart default", "check_clusters.py",
     [sub("platform/kube-prometheus-stack/values.yaml", "    existingSecret: grafana-admin\n", "")],
     r"grafana.admin.existingSecret is not set"),
    ("defect 9: preview quota below HPA max plus surge", "check_capacity.py",
     [sub("app/deploy/preview/environment.yaml", 'limitsCpu: "4"', 'limitsCpu: "3"')],
     r"app/deploy/preview: quota limits.cpu 3 .* below the rollout peak 4"),
    ("defect 9: Crossplane metrics without a PodMonitor", "check_clusters.py",
     [sub("platform/kube-prometheus-stack/values.yaml", "        matchNames: [crossplane-system]\n", "        matchNames: [somewhere-else]\n")],
     r"no PodMonitor/ServiceMonitor in kube-prometheus-stack's values selects crossplane-system"),
    ("defect 9: kind node image by tag only", "check_clusters.py",
     [sub("scripts/cluster-up", re.compile(r"kindest/node:v1\.32\.5@sha256:[0-9a-f]{64}"), "kindest/node:v1.32.5")],
     r"default kind node image is not pinned by digest"),
    ("defect 9: readiness probe that flaps under throttling", "validate_manifests.py",
     [sub("app/deploy/document-proxy/deployment.yaml", "            timeoutSeconds: 2\n            failureThreshold: 2\n",
          "            timeoutSeconds: 1\n            failureThreshold: 1\n")],
     r"readinessProbe timeoutSeconds 1 / failureThreshold 1"),
    ("infrastructure: a composed resource misses a required provider parameter", "validate_manifests.py",
     [sub("crossplane/infrastructure/composition.yaml", "              scalingConfig: {}\n", ""),
      sub("crossplane/infrastructure/composition.yaml",
          re.compile(r"        - type: FromCompositeFieldPath\n          fromFieldPath: spec.nodeGroup.(min|max|desired)Size\n"
                     r"          toFieldPath: spec.forProvider.scalingConfig.\w+\n"), "", count=3)],
     r"resource node-group composed for environments/prod/infrastructure.yaml: spec.forProvider: required parameters missing: scalingConfig"),
    ("infrastructure: a composed resource without its region", "validate_manifests.py",
     [sub("crossplane/infrastructure/composition.yaml", "          toFieldPath: spec.forProvider.region\n", "          toFieldPath: spec.forProvider.zone\n")],
     r"resource loki-chunks composed for environments/prod/infrastructure.yaml: spec/forProvider: 'region' is a required property"),
    ("infrastructure: buckets other than Loki's", "check_clusters.py",
     [sub("environments/prod/infrastructure.yaml", "chunksBucket: acme-sre-loki-chunks", "chunksBucket: acme-sre-logs")],
     r"composes bucketNames.chunks 'acme-sre-logs', but Loki's values on the prod cluster use 'acme-sre-loki-chunks'"),
    ("infrastructure: provisioned by a workload cluster", "check_clusters.py",
     [sub("argocd/clusters/prod/cluster.yaml", "  previews: false\n", "  previews: false\n  infrastructure:\n    - env: prod\n")],
     r"only the management cluster provisions cloud infrastructure"),
    ("defect 9: PDB over a single replica", "validate_manifests.py",
     [sub("environments/dev/kustomization.yaml", re.compile(r"  - target: \{kind: PodDisruptionBudget[\s\S]*\Z"), "")],
     r"environments/dev: \[hardening\] Deployment/document-proxy-dev/document-proxy: runs 1 replica at rest, so PodDisruptionBudget"),
]


def copy_repo(dest: Path) -> None:
    for item in COPIED:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)


def run(root: Path, script: str, schemas: str) -> subprocess.CompletedProcess:
    args = [sys.executable, str(root / "scripts" / "checks" / "platform" / script)]
    if script == "validate_manifests.py":
        args.append(schemas)
    elif script == "check_observability.py":
        work = root / ".work"
        work.mkdir(exist_ok=True)
        args.append(str(work))
    return subprocess.run(args, capture_output=True, text=True, cwd=root, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def run_case(tmp: Path, base: Path, schemas: str, i: int, case) -> str | None:
    """Injects one case's defect into a copy of `base`; returns a failure message or None."""
    name, script, injections, expected = case
    root = tmp / f"case{i}"
    shutil.copytree(base, root)
    try:
        for inject in injections:
            inject(root)
    except AssertionError as exc:
        return f"{name}: {exc}"
    proc = run(root, script, schemas)
    out = proc.stdout + proc.stderr
    shutil.rmtree(root)
    if proc.returncode == 0 or not re.search(expected, out):
        return f"{name}: {script} did not fail with /{expected}/ (exit {proc.returncode}):\n{out[-1500:]}"
    print(f"  caught: {name}", flush=True)
    return None


def main() -> None:
    schemas, only = sys.argv[1], sys.argv[2:]
    cases = [c for c in CASES if not only or any(o in c[0] for o in only)]
    failures = []
    with tempfile.TemporaryDirectory(prefix="test-checks-") as tmp:
        base = Path(tmp) / "base"
        copy_repo(base)
        for script in sorted({c[1] for c in cases}):
            proc = run(base, script, schemas)
            if proc.returncode != 0:
                failures.append(f"baseline: {script} fails on the unmodified copy:\n{proc.stdout}{proc.stderr}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for problem in pool.map(lambda ic: run_case(Path(tmp), base, schemas, *ic), enumerate(cases)):
                if problem:
                    failures.append(problem)
    if failures:
        for f in failures:
            print(f"  FAIL [injected defects] {f}", file=sys.stderr)
        sys.exit(1)
    print(f"injected defects: ok ({len(cases)} defects injected into copies, each caught by its check)")


if __name__ == "__main__":
    main()
