# shellcheck shell=bash
# The one step runner (sourced, not run) behind scripts/checks/run (the check suites) and
# scripts/timed-stages (the stages of `make test`). A suite is a list of named steps:
#
#   step NAME DESCRIPTION COMMAND...   runs COMMAND in a subshell with errexit, nounset, pipefail;
#                                      a failing command prints `FILE: line N: command failed: ...`
#                                      (call it as a statement of its own: inside an `if`, `&&` or
#                                      `||` bash ignores errexit, in the subshell too)
#   skip NAME REASON                   records a step that did not run, and why
#   steps_report                       prints the table, returns 1 if any step failed
#
# Every step runs even after one fails, each prints its time, and the table at the end has one row
# a step (ok / FAILED / skipped), so one run shows every failure. Ctrl-C (or TERM) marks the running
# step interrupted, prints the table and exits 130.

steps_names=() steps_seconds=() steps_results=()
steps_started=$SECONDS steps_current='' steps_current_start=0 steps_command=''

# What a step's ERR trap prints: the file and line of the command that failed.
# A step that is one command names that command instead (the line would be this file's).
steps_on_error() {
  local status=$? file=${BASH_SOURCE[1]:-$0} line=${BASH_LINENO[0]}
  if [ "$file" = "${BASH_SOURCE[0]}" ]; then
    echo "step $steps_current: command failed (exit $status): $steps_command" >&2
  else
    echo "${file#"$PWD"/}: line $line: command failed (exit $status): $1" >&2
  fi
}

step() {
  local name=$1 description=$2 status; shift 2
  steps_current=$name steps_current_start=$SECONDS steps_command=$*
  printf '\n== %s: %s\n' "$name" "$description"
  # Not in an `if` or `||`: bash ignores errexit there, even in a subshell that sets it again. The
  # caller's ERR trap is set aside meanwhile (a failing step is recorded, not an error of the caller).
  local caller_trap
  caller_trap=$(trap -p ERR)
  trap - ERR
  set +e
  (
    set -eEuo pipefail
    trap 'steps_on_error "$BASH_COMMAND"' ERR
    "$@"
  )
  status=$?
  set -e
  eval "${caller_trap:-:}"
  steps_record "$name" $((SECONDS - steps_current_start)) "$([ "$status" = 0 ] && echo ok || echo FAILED)"
  steps_current=''
  if [ "$status" = 0 ]; then
    echo "   ok: $name (${steps_seconds[-1]} s)"
  else
    echo "   FAILED: $name (exit $status, ${steps_seconds[-1]} s)" >&2
  fi
}

skip() {
  printf '\n== %s\n   skipped: %s\n' "$1" "$2"
  steps_record "$1" 0 "skipped ($2)"
}

steps_record() { steps_names+=("$1"); steps_seconds+=("$2"); steps_results+=("$3"); }

# The table, then the status: 1 if a step failed, else 0.
steps_report() {
  local i width=5 failed=0
  for i in "${!steps_names[@]}"; do
    [ ${#steps_names[$i]} -le "$width" ] || width=${#steps_names[$i]}
  done
  printf '\n%-*s %8s  %s\n' "$width" step seconds result
  for i in "${!steps_names[@]}"; do
    printf '%-*s %8s  %s\n' "$width" "${steps_names[$i]}" "${steps_seconds[$i]}" "${steps_results[$i]}"
    case ${steps_results[$i]} in ok | skipped*) ;; *) failed=1 ;; esac
  done
  printf '%-*s %8s  %s\n' "$width" total $((SECONDS - steps_started)) "$([ $failed = 0 ] && echo ok || echo FAILED)"
  return $failed
}

steps_interrupted() {
  trap - INT TERM
  [ -z "$steps_current" ] || steps_record "$steps_current" $((SECONDS - steps_current_start)) interrupted
  steps_report || true
  exit 130
}
trap steps_interrupted INT TERM
