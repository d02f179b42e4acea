#!/usr/bin/env python3
"""Unit tests of the e2e assertions (assert_cluster.py) against recorded answers
(fixtures/<scenario>/answers.yaml): a healthy cluster passes every check, a broken one fails each
check with the reason, and a check that never passes gives up at its deadline, naming what it
waited for. Run by scripts/checks/run platform (python3 -m unittest)."""
from __future__ import annotations

import io
import re
import sys
import unittest
import urllib.parse
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
import assert_cluster  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


class RecordedCluster:
    """A Cluster (kubectl + HTTP to Services) that answers from a fixture folder."""

    def __init__(self, scenario: str) -> None:
        self.dir = FIXTURES / scenario
        self.answers = yaml.safe_load((self.dir / "answers.yaml").read_text())
        self.calls: list[str] = []

    def _text(self, answer: dict, key: str) -> str:
        return (self.dir / answer[f"{key}_file"]).read_text() if f"{key}_file" in answer else str(answer.get(key, ""))

    def kubectl(self, args, stdin=None):
        joined = " ".join(args)
        self.calls.append(f"kubectl {joined}")
        for a in self.answers.get("kubectl") or []:
            if a["args"] == joined:
                return a.get("rc", 0), self._text(a, "stdout"), self._text(a, "stderr")
        return 1, "", f"error: no recorded answer for kubectl {joined}"

    def http(self, target, path, headers=None):
        self.calls.append(f"GET {target} {path}")
        for a in self.answers.get("http") or []:
            if a["target"] == target and re.search(a["path"], path):
                body = (self.dir / a["body_file"]).read_bytes() if "body_file" in a else str(a.get("body", "")).encode()
                return a["status"], dict(a.get("headers") or {}), body
        return 0, {}, b"connection refused (no recorded answer)"


def run(scenario: str, names=None, timeout=0.0):
    cluster = RecordedCluster(scenario)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        failures = assert_cluster.run_checks(cluster, names or list(assert_cluster.CHECKS), timeout,
                                             ["document-proxy-prod"], interval=0, sleep=lambda _s: None)
    return failures, out.getvalue(), cluster


class HealthyCluster(unittest.TestCase):
    def test_every_check_passes(self):
        failures, out, cluster = run("healthy")
        self.assertEqual(failures, [], out)
        self.assertIn("13 Applications Synced and Healthy", out)
        self.assertIn("request id 01J9Z8Y7X6W5V4T3S2R1Q0P9N8", out)
        # every recording rule of the rule file was queried, for dev
        for rule in assert_cluster.recording_rules():
            query = urllib.parse.urlencode({"query": f'{rule}{{namespace="document-proxy-dev"}}'})
            self.assertIn(f"GET prometheus /api/v1/query?{query}", cluster.calls)

    def test_prod_must_be_healthy_unless_allowed(self):
        cluster = RecordedCluster("healthy")
        with self.assertRaisesRegex(assert_cluster.CheckFailed, r"document-proxy-prod Synced/Progressing"):
            assert_cluster.check_applications(cluster, {"allow_unhealthy": set()})


class BrokenCluster(unittest.TestCase):
    def test_each_check_names_what_is_wrong(self):
        failures, _, _ = run("broken")
        expected = {
            "applications": r"kube-prometheus-stack Synced/Degraded, loki OutOfSync/Healthy",
            "environments": r"document-proxy-prod \(Creating\)",
            "document": r"not a complete PDF",
            "prometheus": r"no document_proxy_http_request_duration_seconds_count\{namespace=\"document-proxy-dev\"\}",
            "logs": r"no request id",
            "dashboards": r"does not list dashboards \['document-proxy-slo'\]",
            "admission": r"unsigned image was admitted into document-proxy-prod",
        }
        self.assertEqual(len(failures), len(expected), failures)
        for name, pattern in expected.items():
            self.assertTrue(any(f.startswith(f"{name}: timed out after 0s waiting: ") and re.search(pattern, f) for f in failures),
                            f"{name}: no failure matching /{pattern}/ in {failures}")

    def test_logs_without_the_request(self):
        cluster = RecordedCluster("broken")
        with self.assertRaisesRegex(assert_cluster.CheckFailed, r"Loki has no log line with request_id abc"):
            assert_cluster.check_logs(cluster, {"request_id": "abc"})


class Waiting(unittest.TestCase):
    def test_polls_until_the_deadline_then_names_what_it_waited_for(self):
        now = [0.0]
        sleeps = []

        def sleep(s):
            sleeps.append(s)
            now[0] += s
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            failures = assert_cluster.run_checks(RecordedCluster("broken"), ["environments"], 60, [], interval=10,
                                                 clock=lambda: now[0], sleep=sleep)
        self.assertEqual(sleeps, [10] * 6)
        self.assertEqual(len(failures), 1)
        self.assertRegex(failures[0], r"^environments: timed out after 60s waiting: Environment XRs not Ready")

    def test_sound_document(self):
        self.assertIsNone(assert_cluster.sound_document(b"\x89PNG\r\n\x1a\n....IEND\xaeB`\x82", "image/png"))
        self.assertRegex(assert_cluster.sound_document(b"\x89PNG\r\n\x1a\n....", "image/png"), "not a complete PNG")
        self.assertRegex(assert_cluster.sound_document(b"%PDF-1.4\n%%EOF", "image/png"), "not a complete PNG")
        self.assertRegex(assert_cluster.sound_document(b"x", "text/html"), "unexpected mime type")


if __name__ == "__main__":
    unittest.main()
