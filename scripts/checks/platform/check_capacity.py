#!/usr/bin/env python3
"""Each environment's ResourceQuota (from its Environment XR, spec.quota) holds the environment at
its largest during a rollout: every Deployment at its HPA maximum (or its replicas) plus its
maxSurge pods (default 25 %, rounded up, as Kubernetes does), each container at its requests and
limits (or the LimitRange defaults from spec.limits when it sets none). A quota that is too small
stalls a rollout with maxUnavailable: 0, since the surge pod is refused.
Environments: environments/<env>/ as rendered, and the preview (app/deploy with the preview
component, as argocd/preview/applicationset.yaml deploys it)."""
from __future__ import annotations

import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, Report, parse_docs, render  # noqa: E402

UNITS = {"": 1, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
QUOTA_KEYS = {"requests.cpu": ("requests", "cpu"), "requests.memory": ("requests", "memory"),
              "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}
XR_QUOTA = {"requests.cpu": "requestsCpu", "requests.memory": "requestsMemory", "limits.cpu": "limitsCpu",
            "limits.memory": "limitsMemory", "pods": "pods"}
XR_DEFAULTS = {("requests", "cpu"): "defaultRequestCpu", ("requests", "memory"): "defaultRequestMemory",
               ("limits", "cpu"): "defaultCpu", ("limits", "memory"): "defaultMemory"}


def quantity(value) -> float:
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not m or m.group(2) not in UNITS:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def surge(deploy: dict, replicas: int) -> int:
    value = (((deploy["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%"))
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


def peak(docs: list[dict], defaults: dict) -> tuple[dict[str, float], list[str]]:
    """Quota use at the peak of a rollout, and how each Deployment counts."""
    hpa_max = {d["spec"]["scaleTargetRef"]["name"]: d["spec"]["maxReplicas"]
               for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    use = {k: 0.0 for k in (*QUOTA_KEYS, "pods")}
    how = []
    for d in (d for d in docs if d["kind"] == "Deployment"):
        name = d["metadata"]["name"]
        replicas = hpa_max.get(name, d["spec"].get("replicas", 1))
        pods = replicas + surge(d, replicas)
        how.append(f"{name} {replicas}+{pods - replicas}")
        use["pods"] += pods
        for c in d["spec"]["template"]["spec"]["containers"]:
            res = c.get("resources") or {}
            for key, (kind, resource) in QUOTA_KEYS.items():
                value = (res.get(kind) or {}).get(resource) or defaults.get((kind, resource))
                use[key] += pods * quantity(value or 0)
    return use, how


def check_env(report: Report, where: str, docs: list[dict], xr: dict | None) -> str:
    if xr is None:
        report.error(where, "no Environment XR: cannot know its quota")
        return f"{where}: ?"
    quota = xr["spec"]["quota"]
    limits = xr["spec"].get("limits") or {}
    defaults = {k: limits.get(v) for k, v in XR_DEFAULTS.items()}
    use, how = peak(docs, defaults)
    for key, field in XR_QUOTA.items():
        hard = quantity(quota[field])
        if use[key] > hard + 1e-9:
            report.error(where, f"quota {key} {quota[field]} (Environment spec.quota.{field}) is below the rollout peak "
                                f"{use[key]:g}{'' if key == 'pods' else ' (' + key.split('.')[1] + ')'} of "
                                f"{', '.join(how)} (HPA max + surge): a rollout would stall")
    return f"{where} ({', '.join(how)})"


def preview_docs() -> list[dict] | None:
    # kustomize takes relative paths only: a throw-away Kustomization inside the repo, removed after
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".check-capacity-") as tmp:
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["../app/deploy"], "components": ["../app/deploy/preview"]}))
        proc = subprocess.run(["kubectl", "kustomize", tmp], capture_output=True, text=True, check=False)
    return [d for d in parse_docs(proc.stdout) if d] if proc.returncode == 0 else None


def main() -> None:
    report = Report("capacity")
    summary = []
    for env in sorted(p for p in (ROOT / "environments").iterdir() if (p / "kustomization.yaml").is_file()):
        docs, err = render(str(env))
        xr_file = env / "environment.yaml"
        xr = next((d for d in parse_docs(xr_file.read_text()) if d and d.get("kind") == "Environment"), None) \
            if xr_file.is_file() else None
        if docs is None:
            report.error(f"environments/{env.name}", f"does not render: {err}")
            continue
        summary.append(check_env(report, f"environments/{env.name}", docs, xr))
    docs = preview_docs()
    if docs is None:
        report.error("app/deploy/preview", "app/deploy with the preview component does not render")
    else:
        summary.append(check_env(report, "app/deploy/preview", docs, next((d for d in docs if d["kind"] == "Environment"), None)))
    report.finish("; ".join(summary))


if __name__ == "__main__":
    main()
