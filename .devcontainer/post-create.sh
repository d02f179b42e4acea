#!/usr/bin/env bash
# Runs once when the devcontainer is created: the same tools CI installs, then a build and the
# whole test suite, so a newcomer's first `cargo run` / `make test` / `make cluster` just works.
set -euo pipefail
trap 'echo ".devcontainer/post-create.sh: line $LINENO: command failed: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
rustup toolchain install   # the toolchain and components rust-toolchain.toml names
scripts/install-tools
npm ci --prefix scripts/checks/delivery --no-audit --no-fund
cargo build --workspace --locked
make test
cat <<'MSG'

Ready. Try:
  cargo run -p document-proxy      # the service with an in-process stand-in on :8080
  make test                        # everything CI checks
  make load-test                   # k6 smoke against a local service and stand-in
  make cluster                     # kind + Argo CD + the platform (Docker in Docker)
MSG
