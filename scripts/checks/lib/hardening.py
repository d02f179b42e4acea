"""Hardening rules for rendered workloads. Each rule returns human-readable violations.

Per pod template: probes (startup, liveness, readiness), CPU/memory requests and a memory limit,
the "restricted" security context (non-root, read-only root filesystem, no privilege escalation,
all capabilities dropped, RuntimeDefault seccomp), no host namespaces or hostPath, pinned images
(no :latest, tag or digest required), terminationGracePeriodSeconds that covers preStop plus the
service's SHUTDOWN_GRACE_MS, a readiness probe that tolerates one slow answer. Across the rendered
set: a PodDisruptionBudget for anything that runs more than one replica (HPA minReplicas counts),
none for a single replica (it protects nothing), and a NetworkPolicy selecting every workload."""
from __future__ import annotations

from .common import labels_match, obj_id

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
DRAIN_MARGIN_S = 3


def pod_spec(doc: dict) -> tuple[dict, dict]:
    """-> (pod template metadata, pod spec)."""
    kind = doc["kind"]
    if kind == "Pod":
        return doc.get("metadata") or {}, doc.get("spec") or {}
    tpl = doc["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else doc["spec"]["template"]
    return tpl.get("metadata") or {}, tpl.get("spec") or {}


def _image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag or digest (implicitly :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses :latest"
    return None


def _config_value(docs: list[dict], namespace: str | None, container: dict, key: str) -> str | None:
    for env in container.get("env") or []:
        if env.get("name") == key and "value" in env:
            return env["value"]
    for src in container.get("envFrom") or []:
        name = (src.get("configMapRef") or {}).get("name")
        for d in docs:
            md = d.get("metadata") or {}
            if d.get("kind") == "ConfigMap" and md.get("name") == name and md.get("namespace") == namespace:
                if key in (d.get("data") or {}):
                    return d["data"][key]
    return None


def check_pod(doc: dict, docs: list[dict]) -> list[str]:
    out = []
    _, spec = pod_spec(doc)
    psc = spec.get("securityContext") or {}
    ns = (doc.get("metadata") or {}).get("namespace")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            out.append(f"{flag} is true")
    for vol in spec.get("volumes") or []:
        if "hostPath" in vol:
            out.append(f"volume {vol.get('name')} is a hostPath")
    if spec.get("automountServiceAccountToken") is not False:
        out.append("automountServiceAccountToken is not false (the pods do not call the Kubernetes API)")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        is_init = c in (spec.get("initContainers") or [])
        where = f"container {c.get('name')}"
        csc = c.get("securityContext") or {}
        if problem := _image_problem(c.get("image", "")):
            out.append(f"{where}: {problem}")
        if not is_init and doc["kind"] not in ("Job", "CronJob"):
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in c:
                    out.append(f"{where}: no {probe}")
            # tcpSocket probes are answered by the kernel (SYN-ACK), not by the throttled process
            ready = c.get("readinessProbe") or {}
            if ready and "tcpSocket" not in ready and (ready.get("timeoutSeconds", 1) < 2 or ready.get("failureThreshold", 3) < 2):
                out.append(f"{where}: readinessProbe timeoutSeconds {ready.get('timeoutSeconds', 1)} / failureThreshold "
                           f"{ready.get('failureThreshold', 3)}: one slow answer under CPU throttling takes the pod out "
                           "(need timeoutSeconds >= 2 and failureThreshold >= 2)")
        res = c.get("resources") or {}
        for kind, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if key not in (res.get(kind) or {}):
                out.append(f"{where}: no resources.{kind}.{key}")
        if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            out.append(f"{where}: runAsNonRoot is not true")
        if csc.get("runAsUser", psc.get("runAsUser")) == 0:
            out.append(f"{where}: runs as uid 0")
        if csc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation is not false")
        if csc.get("privileged"):
            out.append(f"{where}: privileged")
        if csc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{where}: readOnlyRootFilesystem is not true")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{where}: capabilities.drop does not contain ALL")
        if (csc.get("capabilities") or {}).get("add"):
            out.append(f"{where}: adds capabilities {csc['capabilities']['add']}")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile is not RuntimeDefault")
        sleep = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
        drain_ms = _config_value(docs, ns, c, "SHUTDOWN_GRACE_MS")
        need = sleep + (int(drain_ms) / 1000 if drain_ms and drain_ms.isdigit() else 0) + DRAIN_MARGIN_S
        if grace < need:
            out.append(f"{where}: terminationGracePeriodSeconds {grace} < preStop sleep {sleep} s + "
                       f"SHUTDOWN_GRACE_MS {drain_ms or 0} ms + {DRAIN_MARGIN_S} s margin")
    return out


def effective_replicas(doc: dict, docs: list[dict]) -> int:
    if doc["kind"] == "DaemonSet":
        return 2  # one per node: treat as replicated
    replicas = (doc.get("spec") or {}).get("replicas", 1)
    md = doc.get("metadata") or {}
    for hpa in docs:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if hpa.get("kind") == "HorizontalPodAutoscaler" and ref.get("kind") == doc["kind"] \
                and ref.get("name") == md.get("name") and (hpa.get("metadata") or {}).get("namespace") == md.get("namespace"):
            replicas = max(replicas, hpa["spec"].get("minReplicas", 1))
    return replicas


def selected_by(kind: str, doc: dict, docs: list[dict], selector_path) -> list[dict]:
    tpl_md, _ = pod_spec(doc)
    ns = (doc.get("metadata") or {}).get("namespace")
    labels = tpl_md.get("labels") or {}
    return [d for d in docs if d.get("kind") == kind and (d.get("metadata") or {}).get("namespace") == ns
            and labels_match(selector_path(d), labels)]


def check_rendered(docs: list[dict]) -> list[tuple[str, str]]:
    """All hardening violations of a rendered set: [(object id, message)]."""
    out = []
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        oid = obj_id(doc)
        out += [(oid, m) for m in check_pod(doc, docs)]
        if doc["kind"] in ("Job", "CronJob"):
            continue
        replicas = effective_replicas(doc, docs)
        pdbs = selected_by("PodDisruptionBudget", doc, docs, lambda d: d["spec"].get("selector"))
        if replicas > 1 and not pdbs:
            out.append((oid, f"runs {replicas} replicas (HPA included) but no PodDisruptionBudget selects its pods"))
        if replicas == 1 and pdbs and doc["kind"] != "DaemonSet":
            out.append((oid, f"runs 1 replica at rest, so PodDisruptionBudget {pdbs[0]['metadata']['name']} protects "
                             "nothing (or blocks every drain): run two or drop it"))
        if not selected_by("NetworkPolicy", doc, docs, lambda d: d["spec"].get("podSelector")):
            out.append((oid, "no NetworkPolicy selects its pods"))
    return out
