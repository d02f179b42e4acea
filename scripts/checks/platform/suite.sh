# shellcheck shell=bash disable=SC2154  # sourced by scripts/checks/run (root, require, step, skip)
# The platform's checks, without a cluster, container engine, helm or network
# (`scripts/checks/run platform`, `make test-platform`):
#   lint       yamllint (platform YAML), shellcheck (every shell script in the repository), hadolint
#              and the image policy (pinned bases, distroless, numeric USER, OCI labels) on app/Dockerfile
#   runner     the step runner (scripts/checks/lib/steps.sh) on a throw-away suite (test-steps)
#   manifests  every Kustomization renders; every rendered or plain object validates: Kubernetes
#              kinds strictly against Kubernetes 1.32 (kubernetes-validate), custom resources against
#              CRD schemas at SCHEMA_LOCATION, XRs against the repo's XRDs; hardening rules on every
#              rendered workload
#   argocd     projects, sources, destinations, kinds, sync waves per cluster root; what each cluster
#              runs is what its cluster.yaml declares, every referenced Secret has a creator,
#              preserved Applications carry no finalizer, prod add-ons persist; the Lua health checks
#              run against sample objects (when lua5.4 is installed)
#   rules      promtool check rules + promtool test rules, annotations, runbooks, dashboards, amtool
#              check-config on the Alertmanager routing tree (when amtool is installed)
#   e2e        the e2e assertions (scripts/e2e/) against recorded answers (scripts/checks/e2e/); the
#              workflow linted
#   defects    each defect class injected into a temporary copy (test_checks.py) must fail the check
#              that guards against it
#   live       every PromQL expression of rules and dashboards against a real Prometheus that scraped
#              the real service after some traffic
# SCHEMA_LOCATION: CRD schema catalog (a folder or URL in the {group}/{kind}_{version}.json layout);
# default ../shared/schemas next to the repo if it exists, else the public catalog.
# SKIP_LIVE_PROMQL=1 skips `live`; BIN_DIR: `live` runs the binaries there instead of building
# release ones.
checks=scripts/checks/platform

if [ -z "${SCHEMA_LOCATION:-}" ]; then
  if [ -d "$root/../shared/schemas" ]; then
    SCHEMA_LOCATION=$(cd "$root/../shared/schemas" && pwd)
  else
    SCHEMA_LOCATION=https://raw.githubusercontent.com/datreeio/CRDs-catalog/main
  fi
fi

require kubectl promtool prometheus shellcheck yamllint hadolint actionlint check-jsonschema jq python3 cargo
python3 -c 'import yaml, jsonschema, kubernetes_validate' 2>/dev/null ||
  require "python: PyYAML/jsonschema/kubernetes-validate"

work=$(mktemp -d "${TMPDIR:-/tmp}/check-platform.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Every shell script git knows of: *.sh, or a sh/bash shebang.
shell_scripts() {
  local f
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue
    case $f in
      *.sh) echo "$f" ;;
      *) if head -n 1 "$f" | grep -Eq '^#!.*\b(ba)?sh\b'; then echo "$f"; fi ;;
    esac
  done | sort
}

lint() {
  local yaml_files shell_files f
  mapfile -t yaml_files < <(find app/deploy environments crossplane argocd platform scripts/checks scripts/e2e \
    -type f \( -name '*.yaml' -o -name '*.yml' \) -not -path '*/node_modules/*' | sort)
  yamllint --strict "${yaml_files[@]}"
  mapfile -t shell_files < <(shell_scripts)
  shellcheck "${shell_files[@]}"
  hadolint app/Dockerfile
  python3 "$checks/check_dockerfile.py"
  for f in platform/dashboards/*.json; do
    jq empty "$f" || { echo "$f is not valid JSON" >&2; return 1; }
  done
  echo "lint: ok (${#yaml_files[@]} YAML files, ${#shell_files[@]} shell scripts, app/Dockerfile)"
}
step lint "yamllint, shellcheck of every shell script, hadolint" lint
step runner "the step runner of the suites and of make test keeps going, reports and fails" \
  scripts/checks/lib/test-steps

step manifests "render, validate (schemas at $SCHEMA_LOCATION), harden" \
  python3 "$checks/validate_manifests.py" "$SCHEMA_LOCATION"

argocd() {
  python3 "$checks/check_argocd.py"
  python3 "$checks/check_clusters.py"
  python3 "$checks/check_webhooks.py"
  python3 "$checks/check_capacity.py"
  if command -v lua5.4 >/dev/null 2>&1; then
    python3 "$checks/check_lua_health.py"
  else
    echo "  note: Lua health checks not executed: lua5.4 missing (Debian package lua5.4)"
  fi
}
step argocd "projects, sources, each cluster's environments and Secrets, sync waves, Lua health checks" argocd

step rules "promtool check/test, runbooks, dashboards" python3 "$checks/check_observability.py" "$work"

e2e() {
  python3 -m unittest -q scripts/checks/e2e/test_assert_cluster.py scripts/checks/e2e/test_cluster_up.py
  actionlint .github/workflows/e2e.yml
  check-jsonschema -q --builtin-schema vendor.github-workflows .github/workflows/e2e.yml
  echo "e2e: ok (assertions unit-tested on scripts/checks/e2e/fixtures, cluster-up's sync wait on a recorded kubectl;" \
    ".github/workflows/e2e.yml passes actionlint and the workflow schema)"
}
step e2e "the e2e job's assertions and cluster-up's wait against recorded answers, the workflow linted" e2e

step defects "each check fails on a copy with the defect it guards against" \
  python3 "$checks/test_checks.py" "$SCHEMA_LOCATION"

live_promql() {
  if [ -z "${BIN_DIR:-}" ]; then
    cargo build --release --locked -q -p document-proxy -p dummy-pdf-or-png
  fi
  python3 "$checks/check_promql.py" "$work" "${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}"
}
if [ "${SKIP_LIVE_PROMQL:-0}" = 1 ]; then
  skip live "SKIP_LIVE_PROMQL=1"
else
  step live "every PromQL expression against Prometheus scraping the real service" live_promql
fi
