#!/usr/bin/env bash
# Fuzzes the protocol's client-frame decoder with cargo-fuzz (libFuzzer): docs/FUZZING.md.
#
#   scripts/fuzz.sh            # 10 minutes
#   SECONDS_TO_RUN=3600 scripts/fuzz.sh
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler. cargo-fuzz passes -Z flags
# to rustc (sanitizer, coverage), which a stable toolchain accepts with RUSTC_BOOTSTRAP=1.
# The corpus (protocol/fuzz/corpus/decode_client, not committed) is seeded from the golden
# client vectors and grows from run to run; a crash lands in protocol/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../protocol/fuzz"
mkdir -p corpus/decode_client
cp ../tests/golden/client_*.msgpack corpus/decode_client/
RUSTC_BOOTSTRAP=1 cargo fuzz run decode_client -- \
  -max_total_time="${SECONDS_TO_RUN:-600}" -max_len=4200 -print_final_stats=1
