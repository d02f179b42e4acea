"""Schema validation of Kubernetes objects without a cluster.

Core kinds: the PyPI package kubernetes-validate (schemas of every Kubernetes release, offline),
strict (unknown fields fail) at KUBERNETES_VERSION.
Custom resources: JSON schemas in the public CRD catalog layout {group}/{kind}_{version}.json under
SCHEMA_LOCATION (a folder, or the catalog's URL), then under scripts/checks/lib/crd-schemas/ (kinds the
catalog lacks, converted from the providers' CRDs by crd_schemas.py). Upjet providers mark required
parameters with CEL rules ("spec.forProvider.<field> is a required parameter", which JSON schema
cannot express); those are checked too: the field must be in forProvider or initProvider.
The repo's own XRDs (crossplane/) provide the schema of their composite resources.
A kind with no schema fails unless listed in skipped-kinds.yaml with a reason."""
from __future__ import annotations

import copy
import functools
import re
import json
import urllib.request
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from .common import ROOT, group_version, load_docs, parse_yaml, walk_files

REPO_SCHEMAS = Path(__file__).parent / "crd-schemas"
REQUIRED_PARAMETER = re.compile(r"^spec\.forProvider\.([A-Za-z0-9]+) is a required parameter$")

KUBERNETES_VERSION = "1.32.0"
CLUSTER_SCOPED_CORE = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "APIService", "IngressClass",
    "RuntimeClass", "CSIDriver", "VolumeAttachment",
}
CLUSTER_SCOPED_CRS = {
    ("apiextensions.crossplane.io", "CompositeResourceDefinition"), ("apiextensions.crossplane.io", "Composition"),
    ("apiextensions.crossplane.io", "EnvironmentConfig"), ("pkg.crossplane.io", "Function"),
    ("pkg.crossplane.io", "Provider"), ("pkg.crossplane.io", "Configuration"),
    ("pkg.crossplane.io", "DeploymentRuntimeConfig"), ("pkg.crossplane.io", "ImageConfig"),
    ("kyverno.io", "ClusterPolicy"), ("policies.kyverno.io", "ValidatingPolicy"),
    ("policies.kyverno.io", "ImageValidatingPolicy"),
}


@functools.lru_cache(maxsize=None)
def skipped_kinds() -> dict[str, str]:
    """apiVersion/kind -> reason, from skipped-kinds.yaml."""
    data = parse_yaml((Path(__file__).parent / "skipped-kinds.yaml").read_text()) or {}
    return {f"{e['apiVersion']}/{e['kind']}": e["reason"] for e in data.get("skipped") or []}


def strict(schema):
    """Reject unknown fields like the API server's structural pruning would drop them silently."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    return schema


@functools.lru_cache(maxsize=None)
def xrd_kinds() -> dict[tuple[str, str, str], tuple[dict, str]]:
    """(group, version, kind) -> (JSON schema, scope) for every XRD in the repo."""
    out = {}
    for f in walk_files(ROOT / "crossplane", suffixes=(".yaml",)):
        for doc in load_docs(f):
            if doc.get("kind") != "CompositeResourceDefinition":
                continue
            spec = doc["spec"]
            for v in spec["versions"]:
                schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
                props = schema.setdefault("properties", {})
                props.update({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                              "metadata": {"type": "object"}, "status": {"type": "object"}})
                # Crossplane adds its own spec fields (crossplane.compositionRef, ...) to every XR.
                props.get("spec", {}).setdefault("properties", {})["crossplane"] = {"type": "object"}
                out[(spec["group"], v["name"], spec["names"]["kind"])] = (strict(schema), spec.get("scope", "Namespaced"))
    return out


@functools.lru_cache(maxsize=None)
def _catalog_schema(location: str, group: str, kind: str, version: str):
    name = f"{group}/{kind.lower()}_{version}.json"
    if location.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{location.rstrip('/')}/{name}", timeout=20) as resp:  # noqa: S310
                return json.load(resp)
        except OSError:
            return None
    path = Path(location) / name
    return json.loads(path.read_text()) if path.exists() else None


def is_cluster_scoped(doc: dict) -> bool:
    group, version = group_version(doc.get("apiVersion", ""))
    kind = doc.get("kind", "")
    if group in ("", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
                 "admissionregistration.k8s.io", "apiregistration.k8s.io", "networking.k8s.io", "node.k8s.io") \
            and kind in CLUSTER_SCOPED_CORE:
        return True
    if (group, kind) in CLUSTER_SCOPED_CRS:
        return True
    xrd = xrd_kinds().get((group, version, kind))
    return bool(xrd and xrd[1] == "Cluster")


def _first_error(validator, doc) -> str | None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(root)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {e.message[:300]}{more}"


def required_parameters(schema: dict, doc: dict) -> str | None:
    """The upjet CEL rules on spec: `spec.forProvider.<f> is a required parameter` holds when the
    managementPolicies allow Create/Update (default ["*"]) only if forProvider or initProvider has <f>."""
    spec = doc.get("spec") or {}
    policies = spec.get("managementPolicies") or ["*"]
    if not any(p in policies for p in ("*", "Create", "Update")):
        return None
    missing = []
    for rule in ((schema.get("properties") or {}).get("spec") or {}).get("x-kubernetes-validations") or []:
        m = REQUIRED_PARAMETER.match(rule.get("message", ""))
        if m and m.group(1) not in (spec.get("forProvider") or {}) and m.group(1) not in (spec.get("initProvider") or {}):
            missing.append(m.group(1))
    return f"spec.forProvider: required parameters missing: {', '.join(missing)} (provider CEL rules)" if missing else None


def validate(doc: dict, location: str) -> tuple[str, str | None]:
    """-> (how it was validated, error or None). how is 'core', 'crd', 'xrd' or 'skipped'."""
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    group, version = group_version(api_version)
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        return "core", None
    except SchemaNotFoundError:
        pass
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        return "core", f"{where}: {exc.message[:300]} (Kubernetes {KUBERNETES_VERSION})"
    xrd = xrd_kinds().get((group, version, kind))
    if xrd:
        return "xrd", _first_error(jsonschema.Draft7Validator(xrd[0]), doc)
    schema = (_catalog_schema(location, group, kind, version) or _catalog_schema(str(REPO_SCHEMAS), group, kind, version)) \
        if group else None
    if schema is not None:
        return "crd", _first_error(jsonschema.Draft7Validator(schema), doc) or required_parameters(schema, doc)
    reason = skipped_kinds().get(f"{api_version}/{kind}")
    if reason:
        return "skipped", None
    return "none", (f"no schema for {api_version} {kind}: not a Kubernetes {KUBERNETES_VERSION} kind, "
                    f"no {group or '<core>'}/{kind.lower()}_{version}.json under {location}, no XRD in crossplane/ "
                    f"(add it to scripts/checks/lib/skipped-kinds.yaml with a reason if it cannot be checked)")
