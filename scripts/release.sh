#!/usr/bin/env bash
# Builds the release binaries an operator downloads: `perudo` statically linked against musl
# for x86_64 and aarch64 Linux, so the server needs no Rust, Node or C library of a given
# version, with the web client embedded and a SHA256SUMS file. docs/DEPLOY.md explains how to
# use them.
#
#   scripts/release.sh                          # both targets into dist/release/
#   scripts/release.sh --target x86_64-unknown-linux-musl --out /tmp/rel
#   scripts/release.sh --check                  # only check that everything needed is here
#
# Needs: the Rust std of each target (`rustup target add <target>`), a C compiler for it
# (rusqlite's bundled SQLite and ring are C): for x86_64, Debian's musl-tools (`musl-gcc`); for
# aarch64, `aarch64-linux-musl-gcc` on PATH, or CC_aarch64_unknown_linux_musl naming one, or
# cargo-zigbuild with zig (`pip install cargo-zigbuild ziglang`); and Node.js 20+ with npm for the
# web client. Each missing piece is named with the command that supplies it.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/release.sh [--target TRIPLE]... [--out DIR] [--profile NAME] [--check]

  --target TRIPLE   build for this target (repeatable); x86_64-unknown-linux-musl and
                    aarch64-unknown-linux-musl are supported; default: both
  --out DIR         where the binaries and SHA256SUMS go (default: dist/release)
  --profile NAME    the cargo profile (default: release; `dev` makes a quick unoptimised
                    build to try the script)
  --check           check the prerequisites of every target and stop
  -h, --help        this text
USAGE
}

die() {
  echo "release.sh: error: $*" >&2
  exit 2
}

root="$(cd "$(dirname "$0")/.." && pwd)"
targets=()
out="$root/dist/release"
profile=release
check_only=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --target)
      [ "$#" -ge 2 ] && [ -n "$2" ] || die "--target needs a target triple"
      targets+=("$2"); shift 2 ;;
    --out)
      [ "$#" -ge 2 ] && [ -n "$2" ] || die "--out needs a directory"
      out="$2"; shift 2 ;;
    --profile)
      [ "$#" -ge 2 ] && [ -n "$2" ] || die "--profile needs a cargo profile name"
      profile="$2"; shift 2 ;;
    --check) check_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
fi

# The C compiler (and how to build) for a target: prints "cc <compiler>" or "zigbuild", or
# fails naming what to install.
toolchain_for() {
  local target="$1" var="CC_${1//-/_}"
  if [ -n "${!var:-}" ]; then
    command -v "${!var}" >/dev/null || die "$var=${!var} is not an executable on PATH"
    echo "cc ${!var}"; return
  fi
  case "$target" in
    x86_64-unknown-linux-musl)
      if command -v musl-gcc >/dev/null; then echo "cc musl-gcc"; return; fi
      die "no C compiler for $target: install musl-gcc (Debian/Ubuntu: sudo apt install musl-tools) or set $var" ;;
    aarch64-unknown-linux-musl)
      if command -v aarch64-linux-musl-gcc >/dev/null; then echo "cc aarch64-linux-musl-gcc"; return; fi
      if command -v cargo-zigbuild >/dev/null \
        && { command -v zig >/dev/null || python3 -c 'import ziglang' 2>/dev/null; }; then
        echo zigbuild; return
      fi
      die "no C compiler for $target: put aarch64-linux-musl-gcc on PATH (a musl.cc cross toolchain), set $var, or install cargo-zigbuild and zig (pip install cargo-zigbuild ziglang)" ;;
  esac
}

check_target() {
  local target="$1"
  case "$target" in
    x86_64-unknown-linux-musl|aarch64-unknown-linux-musl) ;;
    *) die "$target is not a target this script builds (x86_64-unknown-linux-musl, aarch64-unknown-linux-musl)" ;;
  esac
  if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx "$target" \
      || die "the Rust standard library for $target is not installed: rustup target add $target"
  else
    [ -d "$(rustc --print sysroot)/lib/rustlib/$target" ] \
      || die "the Rust standard library for $target is not installed (no rustup: install rust-std for $target)"
  fi
  toolchain_for "$target" >/dev/null
}

command -v cargo >/dev/null || die "cargo is not on PATH (https://rustup.rs)"
for target in "${targets[@]}"; do
  check_target "$target"
done
command -v npm >/dev/null || die "npm is not on PATH: the web client needs Node.js 20+ and npm (docs/DEPLOY.md)"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer builds the web client; this is $(node --version 2>/dev/null || echo none) (docs/DEPLOY.md)"
if [ "$check_only" -eq 1 ]; then
  for target in "${targets[@]}"; do
    echo "ok: $target ($(toolchain_for "$target"))"
  done
  exit 0
fi

cd "$root"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
[ -n "$version" ] || die "no version in the workspace Cargo.toml"

echo "== web client"
npm ci --prefix web-client --no-audit --no-fund
npm run build --prefix web-client
[ -f web-client/dist/index.html ] || die "the web client build left no web-client/dist/index.html"

mkdir -p "$out"
artifacts=()
for target in "${targets[@]}"; do
  echo "== $target ($profile)"
  toolchain="$(toolchain_for "$target")"
  if [ "$toolchain" = zigbuild ]; then
    cargo zigbuild --locked --profile "$profile" --target "$target" -p perudo-server
  else
    cc="${toolchain#cc }"
    # The musl targets link statically by default (crt-static, with Rust's own musl). The C
    # compiler builds SQLite and ring; a cross build also links with it.
    build_env=("CC_${target//-/_}=$cc")
    if [ "${target%%-*}" != "$(uname -m)" ]; then
      build_env+=("CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER=$cc")
    fi
    env "${build_env[@]}" cargo build --locked --profile "$profile" --target "$target" -p perudo-server
  fi
  dir="$profile"; [ "$profile" = dev ] && dir=debug
  binary="target/$target/$dir/perudo"
  [ -f "$binary" ] || die "cargo built no $binary"
  if readelf -l "$binary" | grep -q 'Requesting program interpreter'; then
    die "$binary is dynamically linked (it names a program interpreter)"
  fi
  if readelf -d "$binary" 2>/dev/null | grep -q '(NEEDED)'; then
    die "$binary needs shared libraries: $(readelf -d "$binary" | grep '(NEEDED)' | tr -s ' ')"
  fi
  name="perudo-$version-$target"
  cp "$binary" "$out/$name"
  if [ "$target" = "$(uname -m)-unknown-linux-musl" ]; then
    echo "runs here: $("$out/$name" --version)"
  fi
  artifacts+=("$name")
done

(cd "$out" && sha256sum "${artifacts[@]}" > SHA256SUMS)
echo "== $out"
for name in "${artifacts[@]}"; do
  printf '%s  %s bytes\n' "$name" "$(stat -c %s "$out/$name")"
done
cat "$out/SHA256SUMS"
