#!/usr/bin/env python3
"""One update bot, and it sees every pinned dependency: .github/renovate.json is the only bot
configuration (a second bot would propose the same update twice), it enables the managers for
everything this repository pins (crates, actions, base images, npm, devcontainer features, the
Helm charts Argo CD deploys), and its file patterns reach the files that hold those pins.
Usage: check_updates.py [ROOT]
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import finish, root_argument  # noqa: E402

ROOT = root_argument()
CONFIG = ROOT / ".github/renovate.json"
OTHER_BOTS = (".github/dependabot.yml", ".github/dependabot.yaml", "renovate.json", ".renovaterc.json")
# manager -> (what it keeps current, a file holding such pins, Renovate's default pattern if any)
# Defaults: docs.renovatebot.com/modules/manager/<name> (devcontainer: /^.devcontainer/devcontainer.json$/).
MANAGERS = {
    "cargo": ("crates", "Cargo.toml", r"(^|/)Cargo\.toml$"),
    "github-actions": ("actions", ".github/workflows/ci.yml", r"(^|/)\.github/workflows/[^/]+\.ya?ml$"),
    "dockerfile": ("base images", "app/Dockerfile", None),
    "npm": ("npm packages", "scripts/checks/delivery/package.json", r"(^|/)package\.json$"),
    "devcontainer": ("devcontainer image and features", ".devcontainer/devcontainer.json",
                     r"^\.devcontainer/devcontainer\.json$"),
    "argocd": ("Helm charts of the Argo CD Applications", "argocd/apps/kyverno.yaml", None),
}


def main() -> int:
    errors = []
    tracked = set(subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                                 capture_output=True, text=True, check=True).stdout.split())
    for other in OTHER_BOTS:
        if other in tracked:
            errors.append(f"{other}: a second update bot configuration; .github/renovate.json is the one bot")
    config = json.loads(CONFIG.read_text())
    enabled = config.get("enabledManagers")
    for manager, (what, sample, default) in MANAGERS.items():
        if enabled is not None and manager not in enabled:
            errors.append(f"{CONFIG.relative_to(ROOT)}: manager {manager} is not enabled: nothing updates the {what}")
            continue
        patterns = [p.strip("/") for p in config.get(manager, {}).get("managerFilePatterns", [])]
        patterns += [default] if default else []
        if not any(re.search(p, sample) for p in patterns):
            errors.append(f"{CONFIG.relative_to(ROOT)}: manager {manager} does not match {sample}")
    return finish("check_updates", errors,
                  f"one bot (Renovate) for {', '.join(MANAGERS)}")


if __name__ == "__main__":
    sys.exit(main())
