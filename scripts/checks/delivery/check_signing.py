#!/usr/bin/env python3
"""The signature release.yml writes is one the prod admission policy can read, for the same identity.

No registry or cluster can be reached here (Kyverno's verifyImages fetches signatures from GHCR), so
this is a static check of the pair, with the upstream behaviour that decides it written down:
- cosign 3 signs in the Sigstore bundle format unless `--new-bundle-format=false` (which needs
  `--use-signing-config=false`: cmd/cosign/cli/signcommon/common.go); on GHCR (no OCI referrers
  API) the bundle lands under a fallback tag whose index entries are typed
  application/vnd.oci.empty.v1+json;
- Kyverno's ClusterPolicy `type: SigstoreBundle` keeps only referrers whose artifactType starts with
  application/vnd.dev.sigstore.bundle (pkg/cosign/sigstore.go fetchBundles; kyverno#16664, not
  fixed), so it finds no signature there; `type: Cosign` (the default) reads the legacy
  `sha256-<digest>.sig` tag only;
- ImageValidatingPolicy (policies.kyverno.io/v1, served from Kyverno 1.17, chart 3.7) detects the
  format with cosign's GetBundles and falls back to the legacy tag
  (pkg/image/verifiers/ivpol/cosign/verifier.go buildCheckOptsWithBundleDetection).
So: legacy signing + ClusterPolicy `type: Cosign`, or legacy signing + ImageValidatingPolicy on
chart >= 3.7. The release job must also read back the legacy format (`cosign verify
--new-bundle-format=false`) and find the `.sig` tag (`cosign triangulate`), because a plain
`cosign verify` reads both formats and passes where admission fails.
Usage: check_signing.py [ROOT]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.common import finish, parse_docs, parse_yaml, root_argument  # noqa: E402

ROOT = root_argument()
POLICY = ROOT / "platform/kyverno/policies/prod-release-signature.yaml"
RELEASE = ROOT / ".github/workflows/release.yml"
KYVERNO_APP = ROOT / "argocd/apps/kyverno.yaml"
REPO = "acme-sre/document-proxy-platform"
IDENTITY = f"https://github.com/{REPO}/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
IVPOL_MIN_CHART = (3, 7)  # Kyverno 1.17.0: charts/kyverno/Chart.yaml 3.7.0, ImageValidatingPolicy v1 served
errors: list[str] = []


def release_steps() -> list[dict]:
    release = parse_yaml(RELEASE.read_text())
    env = release.get("env", {})
    if env.get("SIGNER_IDENTITY") != IDENTITY or env.get("SIGNER_ISSUER") != ISSUER:
        errors.append(f"release.yml: SIGNER_IDENTITY/ISSUER are not {IDENTITY} / {ISSUER}")
    return release["jobs"]["images"]["steps"]


def signing_format(steps: list[dict]) -> str:
    """'legacy' or 'bundle': what the release job's `cosign sign` writes."""
    installer = [s for s in steps if str(s.get("uses", "")).startswith("sigstore/cosign-installer@")]
    if not installer or not re.fullmatch(r"v3\.\d+\.\d+", str((installer[0].get("with") or {}).get("cosign-release", ""))):
        errors.append("release.yml: cosign-installer without an explicit `cosign-release: v3.x.y` (the flags below are cosign 3's)")
    script = "\n".join(s.get("run", "") for s in steps)
    sign = [line for line in script.replace("\\\n", " ").splitlines() if re.search(r"\bcosign sign\b", line)]
    if not sign:
        errors.append("release.yml: no `cosign sign` step")
        return "none"
    legacy = all("--new-bundle-format=false" in line for line in sign)
    if legacy and not all("--use-signing-config=false" in line for line in sign):
        errors.append("release.yml: `cosign sign --new-bundle-format=false` without --use-signing-config=false: "
                      "cosign 3 refuses it (signcommon/common.go)")
    verify = [line for line in script.replace("\\\n", " ").splitlines() if re.search(r"\bcosign verify\b", line)]
    if legacy:
        if not verify or not all("--new-bundle-format=false" in line for line in verify):
            errors.append("release.yml: `cosign verify` does not read back the legacy format only "
                          "(--new-bundle-format=false): it would pass on a bundle that admission cannot see")
        if "cosign triangulate --type signature" not in script or "imagetools inspect" not in script:
            errors.append("release.yml: no check that the `.sig` tag exists (cosign triangulate + imagetools inspect)")
    return "legacy" if legacy else "bundle"


def chart_version() -> tuple[int, int]:
    for doc in parse_docs(KYVERNO_APP.read_text()):
        for source in (doc or {}).get("spec", {}).get("sources", []):
            if source.get("chart") == "kyverno":
                major, minor = source["targetRevision"].split(".")[:2]
                return int(major), int(minor)
    errors.append(f"{KYVERNO_APP.relative_to(ROOT)}: no kyverno chart source")
    return (0, 0)


def check_policy(fmt: str) -> None:
    policy = parse_yaml(POLICY.read_text())
    name = POLICY.name
    kind = f"{policy['apiVersion']} {policy['kind']}"
    chart = chart_version()
    if policy["kind"] == "ClusterPolicy":
        verify = [v for r in policy["spec"]["rules"] for v in r.get("verifyImages", [])]
        if not verify:
            errors.append(f"{name}: no verifyImages rule")
        for item in verify:
            kind_type = item.get("type", "Cosign")
            if fmt == "bundle":
                errors.append(f"{name}: release.yml signs in cosign 3's bundle format, which a ClusterPolicy cannot "
                              "read on GHCR (type Cosign reads .sig tags only; type SigstoreBundle skips GHCR's "
                              "fallback-tag entries, kyverno#16664): sign with --new-bundle-format=false")
            elif kind_type != "Cosign":
                errors.append(f"{name}: verifyImages type {kind_type} does not read the legacy .sig signature "
                              "release.yml writes (use type: Cosign)")
            if item.get("failureAction") != "Enforce" or not item.get("required", True):
                errors.append(f"{name}: verifyImages is not enforced and required")
            entries = [e for a in item.get("attestors", []) for e in a.get("entries", [])]
            if not entries:
                errors.append(f"{name}: verifyImages has no attestor")
            for entry in entries:
                keyless = entry.get("keyless", {})
                if keyless.get("subject") != IDENTITY or keyless.get("issuer") != ISSUER:
                    errors.append(f"{name}: keyless subject/issuer differ from the identity release.yml signs with")
    elif policy["kind"] == "ImageValidatingPolicy" and policy["apiVersion"] == "policies.kyverno.io/v1":
        if chart < IVPOL_MIN_CHART:
            errors.append(f"{name}: {kind} needs Kyverno >= 1.17 (chart 3.7); argocd/apps/kyverno.yaml pins "
                          f"chart {chart[0]}.{chart[1]}")
        if fmt != "legacy":
            errors.append(f"{name}: ImageValidatingPolicy reads the bundle through GHCR's fallback tag only as "
                          "cosign's GetBundles does (kyverno#17343 reports failures there): sign legacy")
        text = POLICY.read_text()
        if IDENTITY not in text or ISSUER not in text:
            errors.append(f"{name}: the keyless identity differs from the one release.yml signs with")
    else:
        errors.append(f"{name}: {kind} is neither kyverno.io/v1 ClusterPolicy nor policies.kyverno.io/v1 "
                      "ImageValidatingPolicy")


def main() -> int:
    fmt = signing_format(release_steps())
    check_policy(fmt)
    return finish("check_signing", errors,
                  f"release.yml signs {fmt} (.sig tag, read back and found); "
                  f"{POLICY.name} reads that format for the same identity")


if __name__ == "__main__":
    sys.exit(main())
