# shellcheck shell=bash
# Shared by scripts/promote and scripts/ci/bump-env (sourced, not run): the images an environment
# runs and the commit they were built from.
# Every function works on the repository in the current directory (callers cd to its root first).

# Both images are built from the same commit by release.yml; this one identifies it.
PRIMARY_IMAGE=ghcr.io/acme-sre/document-proxy
# Release commits name the commit their images were built from in this trailer.
SOURCE_TRAILER=Source-Commit

images() { python3 scripts/lib/images.py "$@"; }

# source_commit ENV: the commit ENV's images were built from, found through the release commit that
# first put ENV's document-proxy digest into environments/dev (so it works for every environment,
# whatever merge style brought the digest there). Empty when ENV runs a tag or an unknown digest.
source_commit() {
  local ref digest commit
  ref=$(images get "$1" "$PRIMARY_IMAGE")
  [[ $ref == *@sha256:* ]] || return 0
  digest=${ref#*@}
  commit=$(git log --format=%H --reverse -S"$digest" -- environments/dev/image/kustomization.yaml | head -n 1)
  [ -n "$commit" ] || return 0
  git log -1 --format="%(trailers:key=$SOURCE_TRAILER,valueonly)" "$commit" | sed -n '1{s/[[:space:]]*$//;p}'
}
