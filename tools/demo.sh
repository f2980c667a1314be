#!/usr/bin/env bash
# The main job, end to end on a local directory repository: back up a config dir, a data dir and
# a database dump (a command's output) into one snapshot, change things, back up again, and
# restore the latest snapshot byte-exact. Run from the repository root: tools/demo.sh
# It first installs what the build needs when it is missing (tools/deps.sh: apt-get as root, else
# it says what to install).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
# shellcheck disable=SC2046  # one package name a word
snap_install $(snap_build_needs)
cargo build --release --quiet
snap="$PWD/target/release/snap"

work=$(mktemp -d /tmp/snap-demo.XXXXXX)
export SNAP_REPOSITORY="${SNAP_REPOSITORY:-$work/repo}"
export SNAP_PASSWORD="${SNAP_PASSWORD:-demo-password-change-me}"
export SNAP_CACHE_DIR="$work/cache"

# A small "server": config, data, and a database that a dump command prints.
mkdir -p "$work/etc/app/conf.d" "$work/var/lib/app/uploads"
printf 'listen = "0.0.0.0:8080"\nworkers = 4\n' > "$work/etc/app/app.toml"
printf 'secret = "s3cr3t"\n' > "$work/etc/app/conf.d/keys.toml"
for i in $(seq 1 50); do head -c $((i * 20000)) /dev/urandom > "$work/var/lib/app/uploads/file$i.bin"; done
ln -sf uploads/file1.bin "$work/var/lib/app/latest"
dump() { awk -v day="$1" 'BEGIN { print "CREATE TABLE messages (id int, body text);"; for (i = 1; i <= 200000; i++) printf "INSERT INTO messages VALUES (%d, %s);\n", i, (i % 997 == day ? "'"'"'edited on day " day "'"'"'" : "'"'"'hello world " i "'"'"'") }'; }
export -f dump

"$snap" init
echo "== day 1"
"$snap" backup "$work/etc/app" "$work/var/lib/app" --tag daily \
  --stdin-from-command --stdin-filename chat.sql -- bash -c 'dump 1'
echo "== day 2: one config change, one new upload, scattered row edits"
printf 'workers = 8\n' >> "$work/etc/app/app.toml"
head -c 300000 /dev/urandom > "$work/var/lib/app/uploads/new.bin"
"$snap" backup "$work/etc/app" "$work/var/lib/app" --tag daily \
  --stdin-from-command --stdin-filename chat.sql -- bash -c 'dump 2'
"$snap" snapshots
echo "== restore latest"
"$snap" restore latest --target "$work/restore"
diff -r "$work/etc/app" "$work/restore$work/etc/app"
diff -r --no-dereference "$work/var/lib/app" "$work/restore$work/var/lib/app"
cmp <(dump 2) "$work/restore/chat.sql"
cmp <(dump 2) <("$snap" dump latest /chat.sql)
echo "demo ok: restored byte-exact; repository $SNAP_REPOSITORY ($(du -sh "$SNAP_REPOSITORY" | cut -f1))"
