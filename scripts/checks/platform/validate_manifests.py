#!/usr/bin/env python3
"""Renders every Kustomization in the repo and validates every rendered or plain resource:
schemas (schemas.py), hardening of workloads (hardening.py), and what each Crossplane Composition
composes: its resources rendered for every XR of its type in the repo (render_composition.py),
each validated against its schema, required provider parameters included. A Composition with no
XR in the repo to render it for fails. Usage: validate_manifests.py SCHEMA_LOCATION"""
from __future__ import annotations

import sys
from pathlib import Path
from collections import Counter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import hardening  # noqa: E402
from lib import render_composition  # noqa: E402
from lib import schemas  # noqa: E402
from lib.common import ROOT, Report, is_component, kustomization_dirs, obj_id, plain_manifests, rel, render  # noqa: E402


def check_composition(report: Report, where: str, comp: dict, xrs: list[tuple[str, dict]], location: str,
                      stats: Counter) -> None:
    """Validates what the Composition composes for each XR of its type found in the repo."""
    ref = comp["spec"]["compositeTypeRef"]
    group, version = schemas.group_version(ref["apiVersion"])
    xrd = schemas.xrd_kinds().get((group, version, ref["kind"]))
    samples = [(w, x) for w, x in xrs if x.get("apiVersion") == ref["apiVersion"] and x.get("kind") == ref["kind"]]
    if not samples:
        report.error(where, f"{obj_id(comp)}: no {ref['kind']} XR in the repo to render it for")
    for xr_where, xr in samples:
        try:
            composed = render_composition.render(comp, xr, xrd[0] if xrd else None, bool(xrd and xrd[1] == "Namespaced"))
        except (render_composition.Unsupported, KeyError, TypeError) as exc:
            report.error(where, f"{obj_id(comp)} for {xr_where}: cannot render: {exc}")
            continue
        for name, doc in composed:
            how, err = schemas.validate(doc, location)
            stats[f"composed ({how})"] += 1
            if err:
                report.error(where, f"{obj_id(comp)} resource {name} composed for {xr_where}: {err}")


def check_doc(report: Report, where: str, doc: dict, location: str, stats: Counter) -> None:
    if "__error__" in doc:
        report.error(where, f"YAML does not parse: {doc['__error__']}")
        return
    how, err = schemas.validate(doc, location)
    stats[how] += 1
    if err:
        report.error(where, f"{obj_id(doc)}: {err}")


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
    xrs = [(rel(p), d) for p, d in plain if schemas.xrd_kinds().get((*schemas.group_version(d.get("apiVersion", "")), d.get("kind")))]
    for path, doc in plain:
        if doc.get("kind") == "Composition":
            check_composition(report, rel(path), doc, xrs, location, stats)
    for key, reason in schemas.skipped_kinds().items():
        report.note(f"schema check skipped for {key}: {reason}")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(stats.items()))
    report.finish(f"{rendered} kustomizations rendered, {len(plain)} plain objects; validated: {summary}; "
                  f"schemas from {location}, Kubernetes {schemas.KUBERNETES_VERSION}")


if __name__ == "__main__":
    main()
