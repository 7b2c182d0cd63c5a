#!/usr/bin/env bash
# Builds a fully static release binary (x86_64-unknown-linux-musl) and copies it to $1
# (default target/static/iot-product-operator). Used by the Dockerfile and by CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-target/static/iot-product-operator}"
TARGET=x86_64-unknown-linux-musl
rustup target add "$TARGET" >/dev/null 2>&1 || true
if ! command -v musl-gcc >/dev/null; then
  if command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq musl-tools) >/dev/null 2>&1 || true
  fi
fi
command -v musl-gcc >/dev/null || { echo "musl-gcc is needed (apt-get install musl-tools)" >&2; exit 1; }
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --target "$TARGET" --bin iot-product-operator
mkdir -p "$(dirname "$OUT")"
cp "target/$TARGET/release/iot-product-operator" "$OUT"
if file "$OUT" | grep -q "statically linked\|static-pie linked"; then
  echo "static binary: $OUT ($(du -h "$OUT" | cut -f1))"
else
  file "$OUT"; echo "the binary is not static" >&2; exit 1
fi
