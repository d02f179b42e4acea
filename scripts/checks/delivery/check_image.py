#!/usr/bin/env python3
"""What the image build must get right beyond hadolint and scripts/checks/platform/check_dockerfile.py:

- every FROM is a literal `name:tag@sha256:<digest>` (or an earlier stage): a templated FROM
  (`${RUST_VERSION}`) is invisible to the update bot, a tag without digest moves under us;
- the build context (app/Dockerfile.dockerignore, evaluated the way BuildKit does: last matching
  pattern wins, a match on a parent directory covers its files) lets through every file cargo
  reads: the manifests, the lock file, .cargo/config.toml and every workspace member's sources;
- dependencies get their own layer: `cargo chef cook` with the same package/feature/profile flags
  as the final build, before the full context is copied into that stage, and not into a cache
  mount (the `type=gha` cache exports layers, not cache mounts);
- the shipped binary is built with `cargo auditable` (its dependency list, for Trivy and the SBOM);
- what ships is what is benchmarked: the host glibc target (no `--target`, no musl) on
  distroless/cc, with build and runtime stages on the same Debian release (same glibc).
Usage: check_image.py [ROOT]   (ROOT defaults to this repository; tests pass a mutated copy)
"""
from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import finish, root_argument  # noqa: E402

ROOT = root_argument()
DOCKERFILE = ROOT / "app/Dockerfile"
IGNORE = ROOT / "app/Dockerfile.dockerignore"
PINNED_FROM = re.compile(r"^[a-z0-9.-]+(?:/[a-z0-9._-]+)+:[\w.-]+@sha256:[0-9a-f]{64}$")
DEBIAN = {"bookworm": "12", "trixie": "13"}
BUILD_FLAGS = ("--release", "--locked", '-p "${BIN}"', "--no-default-features")
errors: list[str] = []


def instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out, buf, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        start = start or number
        buf += " " + line.rstrip().removesuffix("\\")
        if not line.rstrip().endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf, start = "", 0
    return out


def ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in IGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = "".join(".*" if part == "**" else fnmatch.translate(part)[4:-3].replace(".*", "[^/]*")
                        for part in re.split(r"(\*\*)", pattern))
        patterns.append((negate, re.compile(regex + "$")))
    return patterns


def in_context(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """BuildKit's rule (moby/patternmatcher MatchesOrParentMatches): the last pattern that matches the
    path or one of its parent directories decides; `!` lets it back in."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for negate, regex in patterns:
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return not excluded


def cargo_inputs() -> list[str]:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.split()
    members = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("app/*/Cargo.toml")
               if p.parent.name != "deploy"}
    wanted = {"Cargo.toml", "Cargo.lock", ".cargo/config.toml"}
    return sorted(f for f in files if f in wanted or any(f.startswith(m + "/") for m in members))


def check_context() -> None:
    patterns = ignore_patterns()
    inputs = cargo_inputs()
    if ".cargo/config.toml" not in inputs:
        errors.append(".cargo/config.toml is not in the repository: the image would build without its settings")
    for path in inputs:
        if not in_context(path, patterns):
            errors.append(f"app/Dockerfile.dockerignore: {path} is left out of the build context; "
                          "cargo reads it (the image would differ from what is tested and benchmarked)")


def check_dockerfile() -> None:
    ins = instructions(DOCKERFILE.read_text())
    where = "app/Dockerfile"
    stages: list[tuple[str, str, list[tuple[int, str, str]]]] = []  # (name, base, instructions)
    for line, word, rest in ins:
        if word == "FROM":
            words = rest.split()
            base = next(w for w in words if not w.startswith("--"))
            name = words[words.index("AS") + 1] if "AS" in words else str(len(stages))
            known = [s[0] for s in stages]
            if "$" in base:
                errors.append(f"{where}:{line}: FROM {base} is templated; the update bot cannot read it (write it literally)")
            elif base not in known and not PINNED_FROM.match(base):
                errors.append(f"{where}:{line}: FROM {base} is not pinned as name:tag@sha256:<digest>")
            stages.append((name, base, []))
        elif stages:
            stages[-1][2].append((line, word, rest))
    if not stages:
        errors.append(f"{where}: no FROM")
        return
    build = [s for s in stages if any("cargo auditable build" in r for _, w, r in s[2] if w == "RUN")]
    if not build:
        errors.append(f"{where}: no stage builds with `cargo auditable build` (the binary would carry no "
                      "dependency list for Trivy and the SBOM)")
    for name, _, body in build:
        cook = next((i for i, (_, w, r) in enumerate(body) if w == "RUN" and "cargo chef cook" in r), None)
        copy_all = next((i for i, (_, w, r) in enumerate(body) if w == "COPY" and r.split()[-2:] == [".", "."]), None)
        final = next(r for _, w, r in body if w == "RUN" and "cargo auditable build" in r)
        if cook is None:
            errors.append(f"{where}: stage {name} has no `cargo chef cook` layer: every build recompiles the dependencies")
            continue
        if copy_all is not None and copy_all < cook:
            errors.append(f"{where}: stage {name} copies the whole context before `cargo chef cook`: "
                          "any source change invalidates the dependency layer")
        cook_cmd = body[cook][2]
        if "--mount=type=cache" in cook_cmd and "target" in cook_cmd.split("cargo chef cook")[0]:
            errors.append(f"{where}: `cargo chef cook` writes into a cache mount, which the gha cache does not export")
        for flag in BUILD_FLAGS:
            if flag not in final:
                errors.append(f"{where}: the final build lacks {flag}")
            elif flag not in cook_cmd:
                errors.append(f"{where}: `cargo chef cook` lacks {flag}, so its dependencies differ from the final build's")
        if "--target" in final or "musl" in DOCKERFILE.read_text():
            errors.append(f"{where}: the image builds another target than the glibc host build every benchmark measures")
    runtime = stages[-1][1]
    build_base = stages[0][1]
    if not runtime.startswith("gcr.io/distroless/cc-debian"):
        errors.append(f"{where}: final stage {runtime} is not distroless/cc (the glibc build needs glibc and libgcc_s)")
    else:
        release = re.search(r"-(\w+)@", build_base)
        runtime_release = re.search(r"cc-debian(\d+)", runtime)
        if not release or DEBIAN.get(release.group(1)) != runtime_release.group(1):
            errors.append(f"{where}: build stage {build_base} and runtime {runtime} are not the same Debian release "
                          "(the binary would link against another glibc than it runs on)")


def main() -> int:
    check_context()
    check_dockerfile()
    return finish("check_image", errors,
                  "literal FROM lines pinned by digest; context has every cargo input incl. .cargo/config.toml; "
                  "cargo-chef dependency layer; cargo auditable; glibc build on distroless/cc of the same Debian release")


if __name__ == "__main__":
    sys.exit(main())
