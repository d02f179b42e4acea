#!/usr/bin/env python3
"""Every admission policy that fails closed is called only for the namespaces it guards, so an
outage of its webhook blocks those namespaces and no other.

How Kyverno scopes the webhook it registers for a policy (kyverno pkg/controllers/webhook/):
- ClusterPolicy (kyverno.io/v1): the chart-wide config.webhooks.namespaceSelector for every
  policy; `match` (namespaces included) is evaluated after the call. A policy gets a webhook of its
  own only with spec.webhookConfiguration.matchConditions (controller.go,
  spec.CustomWebhookMatchConditions -> newWebhookPerPolicy). The failure policy is
  webhookConfiguration.failurePolicy, else the deprecated spec.failurePolicy, else Fail
  (api/kyverno/v1/spec_types.go GetFailurePolicy).
- ValidatingPolicy / ImageValidatingPolicy (policies.kyverno.io): one webhook per policy with
  spec.matchConstraints.namespaceSelector (validating.go resolveNamespaceSelector) and the
  policy's matchConditions; failurePolicy defaults to Fail as in Kubernetes.
Scope is read from a namespaceSelector on kubernetes.io/metadata.name (In / matchLabels) or a
match condition `request.namespace == '<ns>'` / `request.namespace in ['<ns>', ...]` (without `||`).
Usage: check_webhooks.py [policy folder] (default platform/kyverno/policies)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, Report, load_docs, rel, walk_files  # noqa: E402

NAME_LABEL = "kubernetes.io/metadata.name"
EQ = re.compile(r"""request\.namespace\s*==\s*['"]([^'"]+)['"]""")
IN = re.compile(r"""request\.namespace\s+in\s+\[([^\]]*)\]""")
ALL = None  # "every namespace"


def condition_namespaces(conditions: list[dict]) -> set[str] | None:
    """Namespaces a set of matchConditions lets through (they are ANDed), ALL if none restricts."""
    scope: set[str] | None = ALL
    for cond in conditions or []:
        expr = cond.get("expression", "")
        names = set(EQ.findall(expr))
        for group in IN.findall(expr):
            names |= set(re.findall(r"""['"]([^'"]+)['"]""", group))
        # an `||` could let other namespaces through: such a condition does not count as a restriction
        if names and "||" not in expr:
            scope = names if scope is ALL else scope & names
    return scope


def selector_namespaces(selector: dict | None) -> set[str] | None:
    if not selector:
        return ALL
    names: set[str] | None = ALL
    if NAME_LABEL in (selector.get("matchLabels") or {}):
        names = {selector["matchLabels"][NAME_LABEL]}
    for expr in selector.get("matchExpressions") or []:
        if expr.get("key") == NAME_LABEL and expr.get("operator") == "In":
            values = set(expr.get("values") or [])
            names = values if names is ALL else names & values
    return names


def intersect(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    if a is ALL:
        return b
    return a if b is ALL else a & b


def clusterpolicy(doc: dict) -> tuple[str, set[str] | None, set[str] | None]:
    """-> (failure policy, namespaces guarded by the rules' match, namespaces the webhook is called for)."""
    spec = doc.get("spec") or {}
    hook = spec.get("webhookConfiguration") or {}
    failure = hook.get("failurePolicy") or spec.get("failurePolicy") or "Fail"
    guarded: set[str] | None = set()
    for rule in spec.get("rules") or []:
        match = rule.get("match") or {}
        filters = (match.get("any") or []) + (match.get("all") or []) + ([match] if "resources" in match else [])
        for f in filters:
            ns = (f.get("resources") or {}).get("namespaces")
            guarded = ALL if guarded is ALL or not ns else guarded | set(ns)
        if not filters:
            guarded = ALL
    return failure, guarded, condition_namespaces(hook.get("matchConditions") or [])


def cel_policy(doc: dict) -> tuple[str, set[str] | None, set[str] | None]:
    spec = doc.get("spec") or {}
    scope = intersect(selector_namespaces((spec.get("matchConstraints") or {}).get("namespaceSelector")),
                      condition_namespaces(spec.get("matchConditions") or []))
    # what such a policy guards is what its match constraints select: its scope
    return spec.get("failurePolicy") or "Fail", scope, scope


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "platform" / "kyverno" / "policies"
    report = Report("webhooks")
    checked = 0
    for f in walk_files(folder, suffixes=(".yaml", ".yml")):
        for doc in load_docs(f):
            api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
            if api.startswith("kyverno.io/") and kind == "ClusterPolicy":
                failure, guarded, scope = clusterpolicy(doc)
            elif api.startswith("policies.kyverno.io/") and kind in ("ValidatingPolicy", "ImageValidatingPolicy"):
                failure, guarded, scope = cel_policy(doc)
            else:
                continue
            checked += 1
            if failure != "Fail":
                continue
            where = f"{rel(f)}: {kind} {doc['metadata']['name']}"
            if guarded is ALL:
                report.error(where, "fails closed (failurePolicy Fail) for every namespace: name the namespaces it guards")
            elif scope is ALL:
                report.error(where, f"fails closed and guards {sorted(guarded)}, but its webhook is called for every "
                                    "namespace (a Kyverno outage blocks them all): scope it with matchConditions "
                                    "(request.namespace) or matchConstraints.namespaceSelector")
            elif scope != guarded:
                report.error(where, f"its webhook is scoped to {sorted(scope)}, but its rules guard {sorted(guarded)}")
    report.finish(f"{checked} policies; every fail-closed one is scoped to the namespaces it guards")


if __name__ == "__main__":
    main()
