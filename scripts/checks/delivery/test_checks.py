#!/usr/bin/env python3
"""Shows that every delivery check can fail: each case of defects.yaml injects one defect into a
temporary copy of the repository, runs the check that guards against it on that copy, and expects
it to fail naming the defect. The copy is restored between cases, and the unmodified copy must pass
every check first (so a failure is the defect's, not the copy's).
Usage: test_checks.py [CASE-ID...]   (all cases by default)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
DEFECTS = Path(__file__).with_name("defects.yaml")


def run(check: list[str], root: Path) -> subprocess.CompletedProcess:
    # Python checks take the root as argument; shell tests are run from inside the copy.
    command = [*check, str(root)] if check[0] == "python3" else [str(root / check[0])]
    return subprocess.run(command, cwd=REPO if check[0] == "python3" else root, capture_output=True, text=True)


def main() -> int:
    wanted = set(sys.argv[1:])
    every = [(c["id"], c["defect"], c["file"], c.get("replace"), c.get("with", c.get("write")), c["check"].split(" "),
              c["fails_with"]) for c in yaml.safe_load(DEFECTS.read_text())]
    cases = [c for c in every if not wanted or c[0] in wanted]
    unknown = wanted - {c[0] for c in every}
    if unknown:
        print(f"test_checks: unknown case(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        subprocess.run(["bash", "-c", f'. scripts/checks/lib/copy-repo.sh && copy_repo "{root}"'], cwd=REPO, check=True)
        for check in {tuple(c[5]) for c in cases}:
            baseline = run(list(check), root)
            if baseline.returncode != 0:
                print(f"test_checks: {' '.join(check)} fails on the unmodified copy:\n{baseline.stderr}", file=sys.stderr)
                return 1
        for case_id, defect, rel, old, new, check, expect in cases:
            path = root / rel
            original = path.read_text() if path.exists() else None
            if old is None:
                path.write_text(new)
            else:
                if original is None or original.count(old) != 1:
                    failures.append(f"{case_id}: cannot inject: {rel} no longer contains the text once")
                    continue
                path.write_text(original.replace(old, new))
            subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
            result = run(check, root)
            if original is None:
                path.unlink()
            else:
                path.write_text(original)
            subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
            output = result.stdout + result.stderr
            if result.returncode == 0 or expect not in output:
                failures.append(f"{case_id}: {' '.join(check)} did not catch {defect} "
                                f"(exit {result.returncode}, wanted {expect!r}):\n{output}")
            else:
                print(f"  caught {case_id}: {defect}")
    for message in failures:
        print(f"test_checks: FAIL {message}", file=sys.stderr)
    print(f"test_checks: {len(cases) - len(failures)} of {len(cases)} injected defects caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
