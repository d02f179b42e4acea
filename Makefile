# One entry point for people, CI and the devcontainer. `make test` is the whole suite.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help tools test test-rust test-platform test-delivery fmt lint run bench load-test cluster fuzz-pdf fuzz-validate e2e

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

tools: ## install every tool the tests use (scripts/install-tools)
	scripts/install-tools

test: tools test-rust test-platform test-delivery ## the whole suite: Rust, platform and delivery checks

test-rust: ## fmt check, clippy (warnings denied), nextest
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) nextest run --workspace --locked --profile ci

test-platform: ## render and validate manifests, rules, dashboards (issue: platform)
	scripts/check-platform

test-delivery: ## validate workflows, devcontainer, run k6 smoke variants (issue: delivery)
	scripts/check-delivery

fuzz-pdf: tools ## 20,000 PDF mutants judged by the validator and qpdf --check (PDF_DIFFERENTIAL_SEED to vary)
	PDF_DIFFERENTIAL_CASES=20000 $(CARGO) test -p document-validate --test corpus mutants -- --nocapture

fmt: ## format the code
	$(CARGO) fmt --all

run: ## the quickstart: service plus in-process stand-in upstream on :8080
	$(CARGO) run -p document-proxy

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
