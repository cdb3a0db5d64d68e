#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run):
#   0. what a fresh machine lacks: Debian's `chromium` (browser tests), `caddy` and `nginx-light`
#      (deployment tests: the shipped proxy configs are validated), `postgresql` (the store
#      tests start throwaway clusters with its initdb and pg_ctl), installed with apt-get when
#      this runs as root; otherwise it stops at once and prints the one command to run;
#   1. the web client: install its locked dependencies, build it (web-client/dist), unit tests;
#   2. every Rust test of the workspace (the server embeds the client build just made), with
#      every feature: `postgres-tests` makes the PostgreSQL tests run (and fail if PostgreSQL
#      is missing) instead of leaving them out; among them the cluster test (three nodes, Caddy
#      with deploy/Caddyfile.cluster, kill -9, SIGSTOP, rolling restart: server/tests/it/cluster.rs);
#   3. the end-to-end tests in tests/: the real `perudo` binary and headless Chromium
#      (/usr/bin/chromium) playing through the UI; the deployment test also runs Caddy and,
#      where installed, systemd-analyze; the cluster test plays a browser game through Caddy on
#      three nodes sharing a throwaway PostgreSQL and kills the room's node mid-game.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v caddy >/dev/null || missing+=(caddy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
# Debian keeps PostgreSQL's server programs out of PATH, under /usr/lib/postgresql/<major>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    step "installing ${missing[*]} (apt-get)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "scripts/test.sh needs ${missing[*]}; install them once with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

step "web client: npm ci"
npm ci --prefix web-client --no-audit --no-fund
step "web client: build"
npm run build --prefix web-client
step "web client: unit tests"
npm test --prefix web-client

step "rust: cargo test --workspace --all-features"
cargo test --workspace --all-features

step "end-to-end: cargo build -p perudo-server (debug, and release for the deployment test), then tests/"
cargo build -p perudo-server --bin perudo
cargo build --release -p perudo-server --bin perudo
npm ci --prefix tests --no-audit --no-fund
PERUDO_BIN="$PWD/target/debug/perudo" PERUDO_RELEASE_BIN="$PWD/target/release/perudo" \
  npm test --prefix tests
