#!/usr/bin/env python3
"""Writes JSON schemas for CRDs into scripts/checks/lib/crd-schemas/ in the public catalog's layout
{group}/{kind-lowercase}_{version}.json, converted the way the catalog's openapi2jsonschema does
(the version's openAPIV3Schema, objects with properties closed by additionalProperties: false
unless they preserve unknown fields). For the kinds the shared catalog (SCHEMA_LOCATION) lacks.
Usage (in scripts/checks/): python3 -m lib.crd_schemas CRD.yaml...  (e.g. from `git show v2.0.0:package/crds/<file>` of
crossplane-contrib/provider-upjet-aws)"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from .common import parse_yaml
from .schemas import strict

OUT = Path(__file__).parent / "crd-schemas"


def main() -> None:
    for path in sys.argv[1:]:
        crd = parse_yaml(Path(path).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            out = OUT / group / f"{kind.lower()}_{version['name']}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(strict(version["schema"]["openAPIV3Schema"]), sort_keys=True, separators=(",", ":")) + "\n")
            print(out.relative_to(OUT.parent.parent.parent))


if __name__ == "__main__":
    main()
