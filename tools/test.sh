#!/usr/bin/env bash
# README's test command: install what the test suite needs when it is missing (Debian packages
# through tools/deps.sh, Garage with cargo), stop the servers the packages started, then run
# `cargo test --locked` with this script's arguments. CI runs it too (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
garage_needs=""
command -v garage >/dev/null 2>&1 || garage_needs="$(snap_garage_needs)"
# shellcheck disable=SC2046,SC2086  # one package name a word
snap_install $(snap_build_needs) $(snap_test_needs) $garage_needs

# The packages may start servers of their own; the tests start their own and need none.
if [ "$(id -u)" -eq 0 ]; then
  if command -v service >/dev/null 2>&1; then service mariadb stop >/dev/null 2>&1 || true; fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do pg_ctlcluster ${c%/*} ${c#*/} stop 2>/dev/null || true; done
  fi
  if command -v service >/dev/null 2>&1; then service ssh stop >/dev/null 2>&1 || true; fi
fi

# Garage, the S3 server the remote-repository tests start (about 7 minutes to build once; kept
# in cargo's bin directory and skipped when present).
if ! command -v garage >/dev/null 2>&1; then
  cargo install garage --version 2.5.0 --locked --no-default-features --features bundled-libs,lmdb,metrics
fi

exec cargo test --locked "$@"
