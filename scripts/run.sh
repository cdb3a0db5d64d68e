#!/usr/bin/env bash
# Builds the web client and runs the server with it embedded, on 127.0.0.1:8080.
# Extra arguments go to `perudo serve` (e.g. `scripts/run.sh --listen 0.0.0.0:8080`;
# `perudo serve --help` lists every setting).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix web-client --no-audit --no-fund
npm run build --prefix web-client
if [ "$#" -eq 0 ]; then
  set -- --listen 127.0.0.1:8080
fi
exec cargo run --release -p perudo-server -- serve "$@"
