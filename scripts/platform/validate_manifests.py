#!/usr/bin/env python3
"""Renders every Kustomization in the repo and validates every rendered or plain resource:
schemas (schemas.py), hardening of workloads (hardening.py), and the resource templates inside
Crossplane Compositions. Usage: validate_manifests.py SCHEMA_LOCATION"""
from __future__ import annotations

import sys
from collections import Counter

import hardening
import schemas
from common import ROOT, Report, is_component, kustomization_dirs, obj_id, plain_manifests, rel, render


def composition_templates(doc: dict):
    """Resource templates (`base`) of function-patch-and-transform steps in a Composition."""
    for step in (doc.get("spec") or {}).get("pipeline") or []:
        for res in (step.get("input") or {}).get("resources") or []:
            if isinstance(res.get("base"), dict):
                yield f"{step.get('step')}/{res.get('name')}", res["base"]


def check_doc(report: Report, where: str, doc: dict, location: str, stats: Counter) -> None:
    if "__error__" in doc:
        report.error(where, f"YAML does not parse: {doc['__error__']}")
        return
    how, err = schemas.validate(doc, location)
    stats[how] += 1
    if err:
        report.error(where, f"{obj_id(doc)}: {err}")
    if doc.get("kind") == "Composition":
        for name, base in composition_templates(doc):
            how, err = schemas.validate(base, location)
            stats[f"composition template ({how})"] += 1
            if err:
                report.error(where, f"{obj_id(doc)} template {name}: {err}")


def main() -> None:
    location = sys.argv[1]
    report = Report("manifests")
    stats: Counter = Counter()
    rendered = 0
    for kdir in kustomization_dirs():
        if is_component(kdir):
            continue  # rendered through the Kustomizations that include it
        docs, err = render(str(kdir))
        where = rel(kdir)
        if docs is None:
            report.error(where, f"kubectl kustomize failed: {err}")
            continue
        rendered += 1
        if not docs:
            report.error(where, "renders no resources")
        seen = Counter(obj_id(d) for d in docs)
        for oid, n in seen.items():
            if n > 1:
                report.error(where, f"{oid} rendered {n} times")
        for doc in docs:
            check_doc(report, where, doc, location, stats)
        for oid, msg in hardening.check_rendered(docs):
            report.error(where, f"[hardening] {oid}: {msg}")
    plain = plain_manifests()
    for path, doc in plain:
        check_doc(report, rel(path), doc, location, stats)
    for key, reason in schemas.skipped_kinds().items():
        report.note(f"schema check skipped for {key}: {reason}")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(stats.items()))
    report.finish(f"{rendered} kustomizations rendered, {len(plain)} plain objects; validated: {summary}; "
                  f"schemas from {location}, Kubernetes {schemas.KUBERNETES_VERSION}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts" / "platform"))
    main()
