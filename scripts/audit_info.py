#!/usr/bin/env python3
"""Prints the dependency list `cargo auditable` embeds in a binary (the zlib-compressed JSON of the
`.dep-v0` ELF section, the format Trivy, Syft and `rust-audit-info` read), one `name version` a line:
  scripts/audit_info.py <binary>
Fails naming the binary when it carries no such section (built without `cargo auditable`).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    binary = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dep-v0"
        result = subprocess.run(["objcopy", "--dump-section", f".dep-v0={out}", str(binary), str(Path(tmp) / "copy")],
                                capture_output=True, text=True)
        if result.returncode != 0 or not out.is_file():
            print(f"audit_info: {binary}: no .dep-v0 section (not built with cargo auditable?) {result.stderr.strip()}",
                  file=sys.stderr)
            return 1
        packages = json.loads(zlib.decompress(out.read_bytes()))["packages"]
    for package in sorted(packages, key=lambda p: p["name"]):
        print(f"{package['name']} {package['version']}{' (root)' if package.get('root') else ''}")
    print(f"audit_info: {binary}: {len(packages)} packages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
