#!/usr/bin/env python3
"""Policy for app/Dockerfile beyond hadolint: base images pinned (tag or digest, never latest),
final stage distroless or scratch, numeric non-root USER there, OCI labels, a `--locked` release
build without default features (no in-process stand-in), and the Dockerfile-specific .dockerignore
next to it. (The dependency layer, digests and build target: scripts/checks/delivery/check_image.py.)"""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import ROOT, Report  # noqa: E402

DOCKERFILE = ROOT / "app" / "Dockerfile"
OCI_LABELS = ("title", "source", "version", "revision", "created", "licenses")


def instructions(text: str) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", text)  # line continuations
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def main() -> None:
    report = Report("dockerfile")
    where = "app/Dockerfile"
    ins = instructions(DOCKERFILE.read_text())
    args = {}
    for word, rest in ins:
        if word == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args.setdefault(k, v)
    stages = [i for i, (w, _) in enumerate(ins) if w == "FROM"]
    aliases = set()
    for i in stages:
        words = ins[i][1].split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        name = image.split("@")[0].rsplit("/", 1)[-1]
        if len(words) == 3 and words[1].upper() == "AS":
            aliases.add(words[2])
        if image != "scratch" and image not in aliases and "@sha256:" not in image and (":" not in name or name.endswith(":latest")):
            report.error(where, f"base image {image} is not pinned to a version tag or digest")
    final = ins[stages[-1]:]
    base = final[0][1].split()[0]
    if not (base == "scratch" or base.startswith("gcr.io/distroless/")):
        report.error(where, f"final stage {base} is neither distroless nor scratch")
    users = [rest for w, rest in final if w == "USER"]
    if not users or not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]):
        report.error(where, f"final stage must end with a numeric non-root USER, found {users or 'none'}")
    labels = " ".join(rest for w, rest in final if w == "LABEL")
    for key in OCI_LABELS:
        if f"org.opencontainers.image.{key}=" not in labels:
            report.error(where, f"final stage lacks the OCI label org.opencontainers.image.{key}")
    runs = " ".join(rest for w, rest in ins if w == "RUN")
    for needle in ("build --release --locked", "--no-default-features"):
        if needle not in runs:
            report.error(where, f"no RUN with {needle!r}")
    if not DOCKERFILE.with_name("Dockerfile.dockerignore").is_file():
        report.error(where, "app/Dockerfile.dockerignore is missing (the context is the repo root)")
    report.finish(f"{len(stages)} stages, final {base} as {users[-1] if users else '?'}")


if __name__ == "__main__":
    main()
