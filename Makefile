# One entry point for people, CI and the devcontainer. `make test` is the whole suite.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: help tools test test-rust test-fmt test-clippy test-build test-nextest test-readme \
	test-checks test-platform test-delivery fmt run bench load-test cluster fuzz-pdf fuzz-validate e2e

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

tools: ## install every tool the tests use (scripts/install-tools)
	scripts/install-tools

# One compile serves clippy and the tests: scripts/checks/lib/clippy-rustc compiles the workspace's
# crates with clippy's lints (warnings denied) in the build the tests run, so dependencies are built once, not
# once more for `cargo clippy`'s check build. The README check's copy reuses its dependencies. The
# live PromQL check and the k6 smoke runs use the binaries that build made (BIN_DIR); run on their
# own, those scripts build release binaries.
test test-rust test-build test-nextest: export RUSTC_WORKSPACE_WRAPPER := $(CURDIR)/scripts/checks/lib/clippy-rustc
# Not incremental: the wrapper already gives this build its own fingerprints (plain `cargo test`
# does not reuse it), and from scratch incremental compilation only adds work. CI sets the same.
test test-rust test-build test-nextest: export CARGO_INCREMENTAL ?= 0
test: ## the whole suite, each stage timed: tools, fmt, clippy with the test build, tests, README, platform and delivery
	BIN_DIR=$(TARGET_DIR)/debug scripts/timed-stages tools test-fmt test-build test-nextest \
	  test-readme test-checks

test-rust: test-fmt test-build test-nextest ## fmt check, clippy with the test build (warnings denied), nextest

test-fmt: ## cargo fmt --check
	$(CARGO) fmt --all --check

test-clippy: ## clippy on every target, warnings denied (make test lints in test-build instead)
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test-build: ## every target built for the tests, linted by clippy (warnings denied) as it compiles
	$(CARGO) test --workspace --all-targets --locked --no-run

test-nextest: ## unit, property and integration tests (the binaries later stages run come from this build)
	$(CARGO) nextest run --workspace --locked --profile ci

test-readme: ## the README's quickstart command as written, from a clean copy; drifts must fail it
	scripts/checks/readme/check-readme --drift

# Side by side: much of each suite waits (k6 runs, a live Prometheus) while the other computes.
test-checks: ## the platform and delivery suites at once, each one's output printed when it ends
	$(MAKE) --no-print-directory -j2 --output-sync=target test-platform test-delivery

test-platform: ## render and validate manifests, rules, dashboards; PromQL against a live Prometheus
	scripts/checks/run platform

test-delivery: ## validate workflows, devcontainer, promotion; run the k6 smoke variants
	scripts/checks/run delivery

fuzz-pdf: tools ## 20,000 PDF mutants judged by the validator and qpdf --check (PDF_DIFFERENTIAL_SEED to vary)
	PDF_DIFFERENTIAL_CASES=20000 $(CARGO) test -p document-validate --test corpus mutants -- --nocapture

fmt: ## format the code
	$(CARGO) fmt --all

run: ## the quickstart: service plus in-process stand-in upstream on :8080
	$(CARGO) run

bench: ## proxy vs direct upstream vs nginx proxy_pass, side by side
	scripts/bench --rounds 3

fuzz-validate: ## differential run of the PNG validator against pngcheck, 20000 mutants (about a minute)
	DIFFERENTIAL_CASES=20000 DIFFERENTIAL_SEED=$${DIFFERENTIAL_SEED:-$$RANDOM} $(CARGO) test -p document-validate --test corpus differential -- --nocapture

load-test: ## k6 smoke against a locally started service and stand-in
	scripts/load-test smoke

cluster: ## local demo on kind: Argo CD, Crossplane, observability, the app
	scripts/cluster-up

e2e: ## the e2e job on kind: cluster-up, assertions, k6 smoke, then delete (KEEP_CLUSTER=1 keeps it)
	scripts/e2e/run
