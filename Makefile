# One entry point for people, CI and the devcontainer. `make test` is the whole suite.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: help tools test test-rust test-fmt test-clippy test-nextest test-readme \
	test-platform test-delivery fmt run bench load-test cluster fuzz-pdf fuzz-validate e2e

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

tools: ## install every tool the tests use (scripts/install-tools)
	scripts/install-tools

# The live PromQL check and the k6 smoke runs use the binaries the nextest stage built (BIN_DIR)
# instead of building their own; run on their own, those scripts build release binaries.
test: ## the whole suite, each stage timed: tools, Rust, README, platform and delivery checks
	BIN_DIR=$(TARGET_DIR)/debug scripts/timed-stages tools test-fmt test-clippy test-nextest \
	  test-readme test-platform test-delivery

test-rust: test-fmt test-clippy test-nextest ## fmt check, clippy (warnings denied), nextest

test-fmt: ## cargo fmt --check
	$(CARGO) fmt --all --check

test-clippy: ## clippy on every target, warnings denied
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test-nextest: ## unit, property and integration tests (also builds the binaries later stages run)
	$(CARGO) nextest run --workspace --locked --profile ci

test-readme: ## the README's quickstart command as written, from a clean copy; drifts must fail it
	scripts/checks/readme/check-readme --drift

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
