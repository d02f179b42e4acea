#!/usr/bin/env python3
"""Renders a preview environment the way Argo CD would and checks the result.

Takes argocd/preview/applicationset.yaml, fills its Go template with a sample pull request (as the
pull-request generator would, failing on unknown keys like missingkey=error), applies the
Application's `kustomize` overrides (namespace, components, images, patches) to a temporary copy
of its source path, renders it with `kubectl kustomize` and checks:
  - the Application's destination is document-proxy-pr-<number>, where Argo CD puts every
    namespaced object (none names another namespace); the Environment XR is named so and has no
    namespace;
  - the containers run exactly the pr-<number>-<head sha> images .github/workflows/preview.yml pushes;
  - the service runs one replica and reports ENVIRONMENT=pr-<number>;
  - the AppProject the Application uses admits the destination and every rendered kind
    (lib/argocd.py, the same rules check_argocd applies to every Application).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, finish, parse_docs, parse_yaml  # noqa: E402
from lib.argocd import UnknownKey, admits_destination, fill, pull_request_params, refused_objects  # noqa: E402
from lib.schemas import is_cluster_scoped  # noqa: E402

APPSET = ROOT / "argocd/preview/applicationset.yaml"
PROJECTS = ROOT / "argocd/apps/projects.yaml"
WORKFLOW = ROOT / ".github/workflows/preview.yml"
REPO = "acme-sre/document-proxy-platform"
PR = {"number": "42", "head_sha": "0123456789abcdef0123456789abcdef01234567", "branch": "feature/x",
      "branch_slug": "feature-x", "head_short_sha": "01234567", "head_short_sha_7": "0123456",
      "target_branch": "main", "target_branch_slug": "main", "author": "someone", "title": "A change",
      "labels": ["preview"]}
errors: list[str] = []


def fail(message: str) -> None:
    errors.append(message)


def render_template(template: dict) -> dict:
    try:
        return fill(template, pull_request_params(PR))
    except UnknownKey as exc:
        raise SystemExit(f"{APPSET.relative_to(ROOT)}: template uses {exc.expression}, unknown to the generator")


def apply_overrides(kustomization: Path, overrides: dict) -> None:
    """What `kustomize edit set namespace / add component / set image` and Argo's patches do."""
    doc = parse_yaml(kustomization.read_text())
    if "namespace" in overrides:
        doc["namespace"] = overrides["namespace"]
    doc.setdefault("components", []).extend(overrides.get("components", []))
    for image in overrides.get("images", []):
        name, _, tag = image.rpartition(":")
        doc["images"] = [i for i in doc.get("images", []) if i["name"] != name] + [{"name": name, "newTag": tag}]
    doc.setdefault("patches", []).extend(overrides.get("patches", []))
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))


def main() -> int:
    appset = parse_yaml(APPSET.read_text())
    generators = appset["spec"]["generators"]
    github = generators[0]["pullRequest"]["github"]
    if f"{github['owner']}/{github['repo']}" != REPO:
        fail(f"generator watches {github['owner']}/{github['repo']}, not {REPO}")
    if "preview" not in github.get("labels", []):
        fail("generator does not filter on the `preview` label")
    if not appset["spec"].get("goTemplate") or "missingkey=error" not in appset["spec"].get("goTemplateOptions", []):
        fail("ApplicationSet must use goTemplate with missingkey=error")

    app = render_template(appset["spec"]["template"])
    spec, ns = app["spec"], f"document-proxy-pr-{PR['number']}"
    source = spec["source"]
    if "resources-finalizer.argocd.argoproj.io" not in app["metadata"].get("finalizers", []):
        fail("Application lacks the resources finalizer: closing the pull request would leave the environment")
    if spec["destination"]["namespace"] != ns:
        fail(f"destination namespace is not {ns}")
    if source["targetRevision"] != PR["head_sha"]:
        fail("source.targetRevision is not the pull request's head commit")

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(ROOT / source["path"], copy)
        apply_overrides(copy / "kustomization.yaml", source["kustomize"])
        rendered = subprocess.run(["kubectl", "kustomize", str(copy)], capture_output=True, text=True)
        if rendered.returncode != 0:
            print(f"check_preview: kubectl kustomize failed:\n{rendered.stderr}", file=sys.stderr)
            return 1
    objects = [o for o in parse_docs(rendered.stdout) if o]

    want_images = {f"ghcr.io/acme-sre/{b}:pr-{PR['number']}-{PR['head_sha']}" for b in ("document-proxy", "dummy-pdf-or-png")}
    images = set()
    for obj in objects:
        kind, meta = obj["kind"], obj["metadata"]
        # Argo CD puts namespaced objects without a namespace into the destination namespace.
        if is_cluster_scoped(obj) and "namespace" in meta:
            fail(f"cluster-scoped {kind}/{meta['name']} has namespace {meta['namespace']}")
        elif meta.get("namespace", ns) != ns:
            fail(f"{kind}/{meta['name']} is in namespace {meta['namespace']}, not {ns}")
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        images |= {c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])}
        if kind == "Environment" and meta["name"] != ns:
            fail(f"Environment is named {meta['name']}, not {ns}")
        if kind == "Deployment" and meta["name"] == "document-proxy" and obj["spec"].get("replicas") != 1:
            fail("preview document-proxy does not run one replica")
        if kind == "ConfigMap" and meta["name"].startswith("document-proxy-config"):
            if obj["data"].get("ENVIRONMENT") != f"pr-{PR['number']}":
                fail(f"ENVIRONMENT is {obj['data'].get('ENVIRONMENT')}, not pr-{PR['number']}")
    if images != want_images:
        fail(f"images {sorted(images)} != {sorted(want_images)}")
    if not any(o["kind"] == "Environment" for o in objects):
        fail("no Environment XR: nothing would create (and on close delete) the namespace")

    workflow = WORKFLOW.read_text()
    if "pr-${{ github.event.pull_request.number }}-${{ github.event.pull_request.head.sha }}" not in workflow:
        fail(f"{WORKFLOW.relative_to(ROOT)} does not push the pr-<number>-<head sha> tags the ApplicationSet runs")

    projects = {p["metadata"]["name"]: p for p in parse_docs(PROJECTS.read_text()) if p}
    project = projects.get(spec["project"])
    if project is None:
        fail(f"AppProject {spec['project']} is not defined in {PROJECTS.relative_to(ROOT)}")
    else:
        if not admits_destination(project, spec["destination"]):
            fail(f"AppProject {spec['project']} does not admit destination {spec['destination']}")
        for refusal in refused_objects(project, objects, ns):
            fail(f"AppProject {spec['project']}: {refusal}")

    return finish("check_preview", [f"{APPSET.relative_to(ROOT)}: {m}" for m in errors],
                  f"preview of PR {PR['number']} renders {len(objects)} objects in {ns} with its own images")


if __name__ == "__main__":
    sys.exit(main())
