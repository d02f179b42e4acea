#!/usr/bin/env python3
"""Unit tests of scripts/cluster-up's sync wait (`--wait`) against a recording stand-in for kubectl
(a script on PATH that answers from a table, named so): it returns once every Application but
document-proxy-prod and previews is Synced and Healthy, and otherwise gives up at WAIT_MINUTES,
naming each Application it was still waiting for. Run by scripts/checks/run platform."""
from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FAKE_KUBECTL = """#!/usr/bin/env bash
# fake kubectl for the test: the Application table for `get applications`, nothing else
case "$*" in
  *"get applications.argoproj.io -o jsonpath"*) cat "$FAKE_APPS" ;;
  *"get applications.argoproj.io"*) echo "NAME SYNC STATUS HEALTH STATUS" ;;
  *) exit 1 ;;
esac
"""


def run(table: str, minutes: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        kubectl = Path(tmp) / "kubectl"
        kubectl.write_text(FAKE_KUBECTL)
        kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
        apps = Path(tmp) / "apps"
        apps.write_text(table)
        env = {**os.environ, "PATH": f"{tmp}:{os.environ['PATH']}", "FAKE_APPS": str(apps),
               "WAIT_MINUTES": minutes, "WAIT_INTERVAL_SECONDS": "0"}
        return subprocess.run([str(ROOT / "scripts" / "cluster-up"), "--wait"], capture_output=True, text=True,
                              env=env, timeout=60, check=False)


class SyncWait(unittest.TestCase):
    def test_converged_cluster(self):
        proc = run("argocd Synced Healthy\ndocument-proxy-dev Synced Healthy\ndocument-proxy-prod Synced Degraded\n"
                   "document-proxy-pr-7 Synced Progressing\n", "1")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("The demo is up", proc.stdout)

    def test_gives_up_naming_what_it_waited_for(self):
        proc = run("argocd Synced Healthy\ndocument-proxy-dev Synced Healthy\nloki OutOfSync Missing\n"
                   "kube-prometheus-stack Synced Progressing\n", "0")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("timed out after 0 min waiting for Synced/Healthy: loki(OutOfSync/Missing) "
                      "kube-prometheus-stack(Synced/Progressing)", proc.stderr)

    def test_waits_for_dev_to_be_generated(self):
        proc = run("argocd Synced Healthy\n", "0")
        self.assertIn("document-proxy-dev(not generated yet)", proc.stderr)


if __name__ == "__main__":
    unittest.main()
