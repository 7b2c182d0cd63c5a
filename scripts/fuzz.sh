#!/usr/bin/env bash
# Fuzzing with cargo fuzz (libFuzzer, coverage guided) — targets in fuzz/fuzz_targets:
#   gateway_request   any request text → the emulator's parsing and signature checks (no panic;
#                     an accepted request is refused when replayed)
#   signed_roundtrip  any action/parameters signed by the client (both schemes) → accepted with
#                     exactly those parameters; tampered, wrongly signed, stale, replayed → refused
#   platform_calls    any sequence of platform calls with any parameters → the emulator's
#                     business rules answer without a panic; what was created can be queried
#   thing_model       any text → TSL validation; an accepted model round-trips through its
#                     normal form, import document and the platform's export
#
#   scripts/fuzz.sh                                 every target, FUZZ_SECONDS (20) each, random seed,
#                                                   growing corpus: exploration (`make fuzz`)
#   FUZZ_SECONDS=3600 scripts/fuzz.sh thing_model   the long run of one target
#   FUZZ_SEED=N FUZZ_RUNS=M FUZZ_FRESH_CORPUS=1 scripts/fuzz.sh
#                                                   the reproducible smoke run `make test` does:
#                                                   fixed seed, committed seeds only, M inputs
#                                                   per target (a count, not a time: the same
#                                                   inputs on a fast or a slow machine)
# Corpora grow in target/fuzz-corpus/<target>; seeds are in fuzz/seeds/<target>; crashes are
# kept in fuzz/artifacts/<target> (reproduce: cargo fuzz run <target> <file>). A crash found
# is fixed with a unit test and its input added to fuzz/seeds/<target>.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH="${FUZZ_SECONDS:-20}"
TOOLS="$PWD/target/tools"
if [ ! -x "$TOOLS/bin/cargo-fuzz" ]; then
  echo "== installing cargo-fuzz into target/tools"
  cargo install cargo-fuzz --version 0.13.2 --locked --root "$TOOLS" --quiet
fi
export PATH="$TOOLS/bin:$PATH"
# cargo fuzz passes nightly-only flags (-Z): use the nightly toolchain when it is installed,
# else let the stable compiler accept them.
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gateway_request signed_roundtrip platform_calls thing_model)
# Safe Rust: no AddressSanitizer (it would halve the executions); debug assertions on.
flags=(--sanitizer none --debug-assertions --fuzz-dir fuzz)
echo "== building the fuzz targets"
if ! cargo "${toolchain[@]}" fuzz build "${flags[@]}" >target/fuzz-build.log 2>&1; then
  tail -40 target/fuzz-build.log
  exit 1
fi
seed_flag=()
[ -z "${FUZZ_SEED:-}" ] || seed_flag=(-seed="$FUZZ_SEED")
limit=(-max_total_time="$SECONDS_EACH")
[ -z "${FUZZ_RUNS:-}" ] || limit=(-runs="$FUZZ_RUNS")
for target in "${targets[@]}"; do
  if [ -n "${FUZZ_FRESH_CORPUS:-}" ]; then
    corpus="target/fuzz-smoke-corpus/$target"
    rm -rf "$corpus"
  else
    corpus="target/fuzz-corpus/$target"
  fi
  mkdir -p "$corpus" "fuzz/seeds/$target"
  log="target/fuzz-$target.log"
  started=$SECONDS
  if ! cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
    "${limit[@]}" "${seed_flag[@]}" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $target FAILED (log: $log)" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  echo "fuzz $target: ${runs:-?} executions in $((SECONDS - started))s, corpus $(find "$corpus" -type f | wc -l) inputs, no failure"
done
