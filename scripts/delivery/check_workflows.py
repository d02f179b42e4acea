#!/usr/bin/env python3
"""Repository rules for .github/workflows/*.yml that schemas and actionlint do not know:

- every third-party action is pinned by a full commit SHA with a `# vX.Y.Z` comment naming it;
- every workflow declares top-level `permissions` and a `concurrency` group; every job has
  `timeout-minutes`; `id-token: write` and `packages: write` appear only in the jobs that sign or push;
- the signing identity release.yml verifies after signing is the one the prod Kyverno policy
  pins (subject and issuer), and it names this repository's release workflow on main;
- release.yml cannot loop: it ignores environments/** and its bump commit says [skip ci].
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
POLICY = ROOT / "platform/kyverno/policies/prod-release-signature.yaml"
REPO = "acme-sre/document-proxy-platform"
IDENTITY = f"https://github.com/{REPO}/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
USES_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>.*)$")
PINNED_RE = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT_RE = re.compile(r"^\s+#\s+v\d+(\.\d+){0,2}\s*$")
# Jobs allowed to hold powerful permissions: workflow file -> job -> scopes.
POWERFUL = {"id-token": {("release.yml", "images")},
            "packages": {("release.yml", "images"), ("preview.yml", "images"), ("preview.yml", "cleanup")}}
errors: list[str] = []


def check_workflow(path: Path) -> None:
    rel = path.relative_to(ROOT)
    text = path.read_text()
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_RE.match(line)
        if not match or match["ref"].startswith("./"):
            continue
        if not PINNED_RE.match(match["ref"]):
            errors.append(f"{rel}:{number}: {match['ref']} is not pinned to a full commit SHA")
        elif not VERSION_COMMENT_RE.match(match["comment"]):
            errors.append(f"{rel}:{number}: {match['ref']} lacks a `# vX.Y.Z` comment naming its version")
    doc = yaml.safe_load(text)
    if "permissions" not in doc:
        errors.append(f"{rel}: no top-level permissions (least privilege: set them, usually {{}} or contents: read)")
    if "concurrency" not in doc:
        errors.append(f"{rel}: no concurrency group")
    for name, job in doc.get("jobs", {}).items():
        if "timeout-minutes" not in job:
            errors.append(f"{rel}: job {name} has no timeout-minutes")
        for scope, allowed in POWERFUL.items():
            if (job.get("permissions") or {}).get(scope) == "write" and (path.name, name) not in allowed:
                errors.append(f"{rel}: job {name} gets {scope}: write, which only {sorted(allowed)} may")
    top = doc.get("permissions")
    if isinstance(top, dict) and any(v == "write" for v in top.values()):
        errors.append(f"{rel}: top-level permissions grant write; grant it per job instead")


def check_release_and_policy() -> None:
    release = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    env = release.get("env", {})
    if env.get("SIGNER_IDENTITY") != IDENTITY or env.get("SIGNER_ISSUER") != ISSUER:
        errors.append(f"release.yml: SIGNER_IDENTITY/ISSUER are not {IDENTITY} / {ISSUER}")
    # `on:` parses as True in YAML 1.1.
    paths_ignore = (release.get("on") or release.get(True))["push"].get("paths-ignore", [])
    if "environments/**" not in paths_ignore:
        errors.append("release.yml: push trigger does not ignore environments/** (the bump commit would loop)")
    if "[skip ci]" not in (ROOT / "scripts/delivery/bump-env").read_text():
        errors.append("scripts/delivery/bump-env: the bump commit does not say [skip ci]")
    policy = yaml.safe_load(POLICY.read_text())
    rules = {r["name"]: r for r in policy["spec"]["rules"]}
    verify = [v for r in rules.values() for v in r.get("verifyImages", [])]
    if not verify:
        errors.append(f"{POLICY.name}: no verifyImages rule")
    for item in verify:
        if item.get("type") != "SigstoreBundle":
            errors.append(f"{POLICY.name}: verifyImages type is {item.get('type')}; cosign v3 writes Sigstore bundles")
        if item.get("failureAction") != "Enforce":
            errors.append(f"{POLICY.name}: verifyImages is not enforced")
        for attestor in item["attestors"]:
            for entry in attestor["entries"]:
                keyless = entry.get("keyless", {})
                if keyless.get("subject") != IDENTITY or keyless.get("issuer") != ISSUER:
                    errors.append(f"{POLICY.name}: keyless subject/issuer differ from what release.yml signs with")
    for name, rule in rules.items():
        namespaces = rule["match"]["any"][0]["resources"].get("namespaces")
        if namespaces != ["document-proxy-prod"]:
            errors.append(f"{POLICY.name}: rule {name} matches {namespaces}, expected only document-proxy-prod")


def main() -> int:
    if not WORKFLOWS:
        print("check_workflows: no workflows in .github/workflows", file=sys.stderr)
        return 1
    for path in WORKFLOWS:
        check_workflow(path)
    check_release_and_policy()
    for message in errors:
        print(f"check_workflows: {message}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_workflows: {len(WORKFLOWS)} workflows: actions pinned by SHA, permissions, concurrency, "
          "timeouts; signer identity matches the prod policy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
