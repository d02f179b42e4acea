#!/usr/bin/env python3
"""What each cluster runs, from its root argocd/clusters/<cluster>/ as Argo CD renders it:
- the declaration (cluster.yaml, kind ClusterDeclaration) is valid, and the environments the root
  deploys (both ApplicationSets over environments/), its previews and the environments whose cloud
  infrastructure it provisions (only a management cluster does) are exactly the declared ones;
  a prod-tier cluster runs prod-tier environments only and no previews;
- every Secret an Argo CD object (tokenRef, passwordRef, appSecretName, ...) or a chart's values
  (existingSecret) references is rendered by the repo or declared in cluster.yaml with who creates
  it; a demo cluster creates its own (scripts/cluster-up must create each), never an operator;
- no ApplicationSet that preserves resources on deletion templates a resources finalizer
  (an explicit finalizer is kept and cascades: Argo CD applicationset/utils/utils.go
  RenderTemplateParams adds one only when the template has none and preservation is off);
- a prod-tier cluster's stateful add-ons (Prometheus, Alertmanager, Loki) persist to volumes with
  a size, after merging the Application's values files in order;
- an infrastructure XR composes the buckets, region and Pod Identity service account that Loki's
  values on the cluster running that environment use;
- a prod-tier cluster runs Kyverno's admission controller highly available (>= 3 replicas, PDB);
- Grafana's admin login comes from a Secret; Crossplane's metrics have a PodMonitor;
- metrics-server runs on demo clusters only (managed clusters run their own);
- the kind node image scripts/cluster-up starts is pinned by digest."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from check_argocd import cluster_roots  # noqa: E402
from lib.argocd import generate  # noqa: E402
from lib.common import ROOT, Report, load_docs, parse_yaml, rel, render  # noqa: E402

DECLARATION_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "platform.acme-sre.io/v1alpha1"}, "kind": {"const": "ClusterDeclaration"},
        "metadata": {"type": "object", "required": ["name", "annotations"], "properties": {
            "annotations": {"type": "object", "required": ["config.kubernetes.io/local-config"]}}},
        "spec": {"type": "object", "additionalProperties": False, "required": ["tier", "environments", "previews", "secrets"],
                 "properties": {
                     "tier": {"enum": ["demo", "nonprod", "prod", "management"]},
                     "infrastructure": {"type": "array", "items": {
                         "type": "object", "additionalProperties": False, "required": ["env"],
                         "properties": {"env": {"type": "string", "pattern": "^[a-z0-9-]+$"}}}},
                     "environments": {"type": "array", "items": {
                         "type": "object", "additionalProperties": False, "required": ["env"],
                         "properties": {"env": {"type": "string", "pattern": "^[a-z0-9-]+$"}}}},
                     "previews": {"type": "boolean"},
                     "secrets": {"type": "array", "items": {
                         "type": "object", "additionalProperties": False, "required": ["namespace", "name", "createdBy"],
                         "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                                        "createdBy": {"enum": ["operator", "scripts/cluster-up"]}}}},
                 }},
    },
}
ENV_APPSETS = ("environments", "document-proxy")
PREVIEW_APPSET = "document-proxy-preview"
INFRA_APPSET = "infrastructure"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
SECRET_REF_KEYS = ("tokenRef", "passwordRef", "appSecretName", "secretRef")
# chart -> values paths that must be set on prod-tier clusters (a dotted path; the value must be truthy)
PERSISTENCE = {
    "kube-prometheus-stack": [
        "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage",
        "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec.resources.requests.storage"],
    "loki": {"SimpleScalable": ["write.persistence.volumeClaimsEnabled", "write.persistence.size",
                                "backend.persistence.volumeClaimsEnabled", "backend.persistence.size"],
             "SingleBinary": ["singleBinary.persistence.enabled", "singleBinary.persistence.size"]},
}
KIND_IMAGE = re.compile(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}")


def lookup(values: dict, dotted: str):
    node = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def chart_values(app: dict) -> tuple[str | None, dict]:
    """(chart name, values merged from its $values/ files in order) of an Application's chart source."""
    for src in app["spec"].get("sources") or [app["spec"].get("source") or {}]:
        if "chart" in src:
            values: dict = {}
            for vf in (src.get("helm") or {}).get("valueFiles") or []:
                path = ROOT / vf.removeprefix("$values/")
                if path.is_file():
                    values = merge(values, parse_yaml(path.read_text()) or {})
            return src["chart"], values
    return None, {}


def secret_refs(node, namespace: str, found: set[tuple[str, str]]) -> None:
    """Secrets referenced by an Argo CD object (in its own namespace) or by chart values."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in SECRET_REF_KEYS:
                name = v.get("secretName") or v.get("name") if isinstance(v, dict) else v
                if name:
                    found.add((namespace, str(name)))
            elif k == "existingSecret" and v:
                found.add((namespace, str(v)))
            else:
                secret_refs(v, namespace, found)
    elif isinstance(node, list):
        for v in node:
            secret_refs(v, namespace, found)


def env_tier(env: str) -> str | None:
    f = ROOT / "environments" / env / "environment.yaml"
    docs = load_docs(f) if f.is_file() else []
    return next((d["spec"].get("tier") for d in docs if d.get("kind") == "Environment"), None)


def check_root(report: Report, root: Path, cluster_up: str) -> str:
    where = rel(root)
    decl_file = root / "cluster.yaml"
    decls = [d for d in load_docs(decl_file) if d.get("kind") == "ClusterDeclaration"] if decl_file.is_file() else []
    if len(decls) != 1:
        report.error(where, "needs exactly one ClusterDeclaration in cluster.yaml (what this cluster runs)")
        return "?"
    decl = decls[0]
    errors = sorted(jsonschema.Draft7Validator(DECLARATION_SCHEMA).iter_errors(decl), key=lambda e: list(e.path))
    for e in errors:
        report.error(rel(decl_file), f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}")
    if errors:
        return "?"
    spec = decl["spec"]
    docs, err = render(str(root))
    if docs is None:
        report.error(where, f"does not render: {err}")
        return "?"
    if any(d.get("kind") == "ClusterDeclaration" for d in docs):
        report.error(where, "the ClusterDeclaration is rendered: it must carry config.kubernetes.io/local-config")
    appsets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ApplicationSet"}
    apps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Application"}
    declared = [e["env"] for e in spec["environments"]]
    for env in declared:
        if not (ROOT / "environments" / env).is_dir():
            report.error(rel(decl_file), f"declares environment {env}, but environments/{env}/ does not exist")
        if spec["tier"] == "prod" and env_tier(env) != "prod":
            report.error(rel(decl_file), f"a prod cluster runs environment {env} of tier {env_tier(env)!r}")
    for name in ENV_APPSETS:
        if name not in appsets and not declared:
            continue  # a cluster without environments (management) leaves argocd/environments out
        if name not in appsets:
            report.error(where, f"ApplicationSet {name} is not rendered (argocd/environments missing from components?)")
            continue
        deployed = sorted(p[".path.path"].removeprefix("environments/") for p, _ in generate(appsets[name]))
        if deployed != sorted(declared):
            report.error(where, f"ApplicationSet {name} deploys environments {deployed}, cluster.yaml declares {sorted(declared)}")
    infra = [e["env"] for e in spec.get("infrastructure") or []]
    for env in infra:
        if not (ROOT / "environments" / env / "infrastructure.yaml").is_file():
            report.error(rel(decl_file), f"provisions infrastructure of {env}, but environments/{env}/infrastructure.yaml does not exist")
    provisioned = sorted(p[".path.path"].removeprefix("environments/") for p, _ in generate(appsets[INFRA_APPSET])) \
        if INFRA_APPSET in appsets else []
    if provisioned != sorted(infra):
        report.error(where, f"provisions the cloud infrastructure of {provisioned}, cluster.yaml declares {sorted(infra)}")
    if infra and spec["tier"] != "management":
        report.error(rel(decl_file), "only the management cluster provisions cloud infrastructure")
    others = [n for n, a in appsets.items() if n not in (*ENV_APPSETS, PREVIEW_APPSET, INFRA_APPSET)
              and any("git" in g or "list" in g for g in a["spec"].get("generators") or [])]
    if others:
        report.error(where, f"ApplicationSets {others} generate Applications outside the declared environments")
    if (PREVIEW_APPSET in appsets) != spec["previews"]:
        report.error(where, f"previews: {spec['previews']} in cluster.yaml, but the preview ApplicationSet is "
                            f"{'rendered' if PREVIEW_APPSET in appsets else 'not rendered'}")
    if spec["tier"] == "prod" and spec["previews"]:
        report.error(rel(decl_file), "a prod cluster runs no previews")
    check_secrets(report, where, spec, docs, apps, appsets, cluster_up)
    check_addon_values(report, where, apps)
    for name, appset in appsets.items():
        tmpl = appset["spec"]["template"]["metadata"]
        if (appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion") and FINALIZER in (tmpl.get("finalizers") or []):
            report.error(where, f"ApplicationSet {name} promises preserveResourcesOnDeletion, but its template sets "
                                f"{FINALIZER}: deleting a generated Application deletes its resources")
    if spec["tier"] == "prod":
        check_persistence(report, where, apps)
        check_kyverno_ha(report, where, apps)
    if "metrics-server" in apps and spec["tier"] != "demo":
        report.error(where, "runs metrics-server on a managed cluster, which runs its own (APIService v1beta1.metrics.k8s.io)")
    if spec["tier"] == "demo" and not KIND_IMAGE.search(cluster_up):
        report.error("scripts/cluster-up", "the default kind node image is not pinned by digest (kindest/node:vX.Y.Z@sha256:...)")
    ROOTS[root.name] = (spec, apps)
    return (f"{root.name}: {'+'.join(declared) or 'no environments'}{' +previews' if spec['previews'] else ''}"
            f"{' +infrastructure of ' + '+'.join(infra) if infra else ''}")


ROOTS: dict[str, tuple[dict, dict]] = {}  # cluster -> (declaration spec, rendered Applications)


def check_infrastructure_matches_loki(report: Report) -> None:
    """The buckets, region and service account an infrastructure XR composes are the ones Loki's
    values on the cluster that runs that environment use."""
    for cluster, (spec, _) in ROOTS.items():
        for env in (e["env"] for e in spec.get("infrastructure") or []):
            f = ROOT / "environments" / env / "infrastructure.yaml"
            xr = next((d for d in load_docs(f) if d.get("kind") == "ClusterInfrastructure"), None) if f.is_file() else None
            runs = [apps for s, apps in ROOTS.values() if env in [e["env"] for e in s["environments"]] and s["tier"] == "prod"]
            if xr is None or not runs or "loki" not in runs[0]:
                continue
            _, loki = chart_values(runs[0]["loki"])
            logs = xr["spec"]["logs"]
            want = {"bucketNames.chunks": logs["chunksBucket"], "bucketNames.ruler": logs["rulerBucket"],
                    "bucketNames.admin": logs["adminBucket"], "s3.region": xr["spec"]["region"]}
            for key, value in want.items():
                if lookup(loki, f"loki.storage.{key}") != value:
                    report.error(rel(f), f"composes {key} {value!r}, but Loki's values on the {env} cluster use "
                                         f"{lookup(loki, f'loki.storage.{key}')!r}")
            sa = lookup(loki, "serviceAccount.name")
            ns = runs[0]["loki"]["spec"]["destination"].get("namespace")
            if (logs.get("serviceAccount", "loki"), logs.get("namespace", "observability")) != (sa, ns):
                report.error(rel(f), f"associates the Loki role with {logs.get('namespace', 'observability')}/"
                                     f"{logs.get('serviceAccount', 'loki')}, but Loki runs as {ns}/{sa}")


def check_secrets(report, where, spec, docs, apps, appsets, cluster_up) -> None:
    refs: set[tuple[str, str]] = set()
    for obj in list(appsets.values()) + list(apps.values()):
        secret_refs(obj.get("spec"), obj["metadata"].get("namespace") or "argocd", refs)
    for app in apps.values():
        _, values = chart_values(app)
        secret_refs(values, app["spec"]["destination"].get("namespace", ""), refs)
    rendered = {((d["metadata"].get("namespace") or ""), d["metadata"]["name"]) for d in docs if d.get("kind") == "Secret"}
    declared = {(s["namespace"], s["name"]): s["createdBy"] for s in spec["secrets"]}
    for ns, name in sorted(refs - rendered):
        who = declared.get((ns, name))
        if who is None:
            report.error(where, f"references Secret {ns}/{name}, which nothing creates: not rendered here, not in "
                                "cluster.yaml secrets (the object would fail, e.g. the pull-request generator)")
        elif spec["tier"] == "demo" and who != "scripts/cluster-up":
            report.error(where, f"the demo cluster needs Secret {ns}/{name} from an operator: it must come up with no credentials")
        elif who == "scripts/cluster-up" and not re.search(rf"-n {re.escape(ns)} create secret generic {re.escape(name)}\b", cluster_up):
            report.error(where, f"Secret {ns}/{name} is declared as created by scripts/cluster-up, which does not "
                                f"create it (`kubectl -n {ns} create secret generic {name}`)")


def check_persistence(report, where, apps) -> None:
    for name, app in sorted(apps.items()):
        chart, values = chart_values(app)
        required = PERSISTENCE.get(chart or "")
        if isinstance(required, dict):
            required = required.get(values.get("deploymentMode", "SimpleScalable"), [])
        for path in required or []:
            if not lookup(values, path):
                report.error(where, f"Application {name} (chart {chart}): production values do not persist to a "
                                    f"volume: {path} is not set (data on emptyDir is lost on every reschedule)")


def check_addon_values(report, where, apps) -> None:
    """Grafana's admin login comes from a Secret (else kube-prometheus-stack's public default
    `prom-operator` applies); Crossplane's metrics, when enabled, have a PodMonitor/ServiceMonitor
    (the Prometheus Operator ignores prometheus.io annotations)."""
    values = {chart: v for chart, v in (chart_values(a) for a in apps.values()) if chart}
    kps = values.get("kube-prometheus-stack")
    if kps is not None and not lookup(kps, "grafana.admin.existingSecret"):
        report.error(where, "kube-prometheus-stack: grafana.admin.existingSecret is not set, so Grafana's admin "
                            "password is the chart's public default")
    if lookup(values.get("crossplane", {}), "metrics.enabled") and kps is not None:
        monitors = (lookup(kps, "prometheus.additionalPodMonitors") or []) + (lookup(kps, "prometheus.additionalServiceMonitors") or [])
        if not any("crossplane-system" in (lookup(m, "namespaceSelector.matchNames") or []) for m in monitors):
            report.error(where, "Crossplane exports metrics but no PodMonitor/ServiceMonitor in kube-prometheus-stack's "
                                "values selects crossplane-system: they are never scraped")


def check_kyverno_ha(report, where, apps) -> None:
    """The prod signature policy fails closed: its webhook must survive a node drain or a rollout."""
    for name, app in sorted(apps.items()):
        chart, values = chart_values(app)
        if chart != "kyverno":
            continue
        replicas = lookup(values, "admissionController.replicas") or 1
        if replicas < 3 or not lookup(values, "admissionController.podDisruptionBudget.enabled"):
            report.error(where, f"Application {name}: a production Kyverno needs admissionController.replicas >= 3 "
                                f"(has {replicas}) and admissionController.podDisruptionBudget.enabled")


def main() -> None:
    report = Report("clusters")
    cluster_up = (ROOT / "scripts" / "cluster-up").read_text()
    summary = [check_root(report, root, cluster_up) for root in cluster_roots()]
    check_infrastructure_matches_loki(report)
    report.finish("; ".join(summary))


if __name__ == "__main__":
    main()
