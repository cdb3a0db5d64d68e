#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run):
#   1. the web client: install its locked dependencies, build it (web-client/dist), unit tests;
#   2. every Rust test of the workspace (the server embeds the client build just made);
#   3. the browser end-to-end tests: the real `perudo` binary and headless Chromium
#      (/usr/bin/chromium, Debian's `chromium` package) playing through the UI; the deployment
#      test also runs Caddy (Debian's `caddy` package) and, where installed, systemd-analyze.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "web client: npm ci"
npm ci --prefix web-client --no-audit --no-fund
step "web client: build"
npm run build --prefix web-client
step "web client: unit tests"
npm test --prefix web-client

step "rust: cargo test --workspace --all-features"
cargo test --workspace --all-features

step "end-to-end: cargo build -p perudo-server (debug, and release for the deployment test), then npm run e2e"
cargo build -p perudo-server --bin perudo
cargo build --release -p perudo-server --bin perudo
PERUDO_BIN="$PWD/target/debug/perudo" PERUDO_RELEASE_BIN="$PWD/target/release/perudo" \
  npm run e2e --prefix web-client
