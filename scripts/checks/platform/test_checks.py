#!/usr/bin/env python3
"""The platform checks catch the defects they guard against: each case copies the repository's
platform files into a temporary folder, injects one defect of defects.yaml there, runs the check on
the copy and expects it to fail with a message naming the defect. The unmodified copy must pass every check
first (so a case cannot pass because the check fails for another reason).
Usage: test_checks.py SCHEMA_LOCATION [case name substring ...]"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
COPIED = ("argocd", "platform", "crossplane", "environments", "app/deploy", "scripts/checks/lib", "scripts/checks/platform",
          "scripts/cluster-up", "docs/runbooks")


DEFECTS = Path(__file__).with_name("defects.yaml")


def inject(root: Path, injection: dict) -> None:
    """One injection of defects.yaml into the copy at root: write a file, or replace a literal
    (`replace`) or a regular expression (`pattern`) `count` times (default once)."""
    f = root / injection["file"]
    if "write" in injection:
        f.write_text(injection["write"])
        return
    text, count = f.read_text(), injection.get("count", 1)
    if "pattern" in injection:
        changed, n = re.subn(injection["pattern"], injection["with"], text, count=count)
    else:
        n = text.count(injection["replace"])
        changed = text.replace(injection["replace"], injection["with"], count)
    if not n:
        raise AssertionError(f"injection does not apply: {injection.get('pattern', injection.get('replace'))!r} "
                         f"not in {injection['file']}")
    f.write_text(changed)


def copy_repo(dest: Path) -> None:
    for item in COPIED:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)


def run(root: Path, script: str, schemas: str) -> subprocess.CompletedProcess:
    args = [sys.executable, str(root / "scripts" / "checks" / "platform" / script)]
    if script == "validate_manifests.py":
        args.append(schemas)
    elif script == "check_observability.py":
        work = root / ".work"
        work.mkdir(exist_ok=True)
        args.append(str(work))
    return subprocess.run(args, capture_output=True, text=True, cwd=root, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def run_case(tmp: Path, base: Path, schemas: str, i: int, case) -> str | None:
    """Injects one case's defect into a copy of `base`; returns a failure message or None."""
    name, script, expected = case["name"], case["check"], case["fails_with"]
    root = tmp / f"case{i}"
    shutil.copytree(base, root)
    try:
        for injection in case["inject"]:
            inject(root, injection)
    except AssertionError as exc:
        return f"{name}: {exc}"
    proc = run(root, script, schemas)
    out = proc.stdout + proc.stderr
    shutil.rmtree(root)
    if proc.returncode == 0 or not re.search(expected, out):
        return f"{name}: {script} did not fail with /{expected}/ (exit {proc.returncode}):\n{out[-1500:]}"
    print(f"  caught: {name}", flush=True)
    return None


def main() -> None:
    schemas, only = sys.argv[1], sys.argv[2:]
    cases = [c for c in yaml.safe_load(DEFECTS.read_text()) if not only or any(o in c["name"] for o in only)]
    failures = []
    with tempfile.TemporaryDirectory(prefix="test-checks-") as tmp:
        base = Path(tmp) / "base"
        copy_repo(base)
        for script in sorted({c["check"] for c in cases}):
            proc = run(base, script, schemas)
            if proc.returncode != 0:
                failures.append(f"baseline: {script} fails on the unmodified copy:\n{proc.stdout}{proc.stderr}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for problem in pool.map(lambda ic: run_case(Path(tmp), base, schemas, *ic), enumerate(cases)):
                if problem:
                    failures.append(problem)
    if failures:
        for f in failures:
            print(f"  FAIL [injected defects] {f}", file=sys.stderr)
        sys.exit(1)
    print(f"injected defects: ok ({len(cases)} defects injected into copies, each caught by its check)")


if __name__ == "__main__":
    main()
