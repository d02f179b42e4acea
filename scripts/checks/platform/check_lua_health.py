#!/usr/bin/env python3
"""Runs the Argo CD Lua health checks of platform/argocd/values.yaml with a real Lua interpreter
(`lua5.4`) against sample objects, and compares the verdicts. Argo CD gives the script the live
object as the global `obj` and reads the returned table's `status` and `message`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, Report, parse_yaml  # noqa: E402

PREFIX = "resource.customizations.health."


def cond(t: str, s: str, **kw) -> dict:
    return {"type": t, "status": s, **kw}


CASES = {
    "platform.acme-sre.io_Environment": [
        ({}, "Progressing"),
        ({"status": {"conditions": [cond("Synced", "True"), cond("Ready", "False", reason="Creating")]}}, "Progressing"),
        ({"status": {"conditions": [cond("Synced", "True"), cond("Ready", "True")]}}, "Healthy"),
        ({"status": {"conditions": [cond("Synced", "False", message="cannot compose"), cond("Ready", "True")]}}, "Degraded"),
    ],
    "pkg.crossplane.io_Function": [
        ({}, "Progressing"),
        ({"status": {"conditions": [cond("Installed", "True"), cond("Healthy", "False", reason="Unhealthy")]}}, "Progressing"),
        ({"status": {"conditions": [cond("Installed", "True"), cond("Healthy", "True")]}}, "Healthy"),
    ],
    "argoproj.io_Application": [
        ({}, "Progressing"),
        ({"status": {"health": {"status": "Degraded", "message": "boom"}}}, "Degraded"),
        ({"status": {"health": {"status": "Healthy"}}}, "Healthy"),
    ],
}


def lua_value(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"[{lua_value(k)}] = {lua_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "{" + ", ".join(lua_value(x) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(script: str, obj: dict) -> tuple[str | None, str]:
    program = f"obj = {lua_value(obj)}\nlocal function check()\n{script}\nend\nlocal hs = check()\nprint(hs.status)\n"
    proc = subprocess.run(["lua5.4", "-"], input=program, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    return proc.stdout.strip(), ""


def main() -> None:
    report = Report("lua-health")
    where = "platform/argocd/values.yaml"
    cm = parse_yaml((ROOT / where).read_text())["configs"]["cm"]
    scripts = {k[len(PREFIX):]: v for k, v in cm.items() if k.startswith(PREFIX)}
    for key in scripts.keys() - CASES.keys():
        report.error(where, f"health check {key} has no sample cases in {__file__}")
    n = 0
    for key, cases in CASES.items():
        if key not in scripts:
            report.error(where, f"no health check {PREFIX}{key}")
            continue
        for obj, want in cases:
            got, err = run(scripts[key], obj)
            n += 1
            if err:
                report.error(where, f"{key}: Lua error: {err}")
            elif got != want:
                report.error(where, f"{key}: {obj} -> {got}, expected {want}")
    report.finish(f"{len(scripts)} health checks, {n} sample objects, lua5.4")


if __name__ == "__main__":
    sys.exit(main())
