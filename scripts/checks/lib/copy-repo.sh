# shellcheck shell=bash
# Sourced by the delivery checks that run commands for real on a copy of the repository.

# copy_repo DST: copies the work tree's tracked and untracked-but-not-ignored files to DST and
# commits them there as `baseline` (tests run on that copy, never on the work tree).
copy_repo() {
  local dst=$1
  mkdir -p "$dst"
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
    xargs -0 cp --parents -t "$dst"
  (cd "$dst" && git init -q -b main . && git add -A && git -c user.name=delivery-test -c user.email=delivery-test@example.invalid commit -qm baseline)
}
