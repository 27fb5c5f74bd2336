#!/usr/bin/env bash
# Run the libFuzzer targets in fuzz/ (issue 18): CSR, OCSP request, JWS, JSON bodies, PEM, and
# CRL/OCSP building from arbitrary serials and reasons.
#
#   scripts/fuzz.sh                 every target for 600 s each
#   scripts/fuzz.sh 15              every target for 15 s each (what CI runs)
#   scripts/fuzz.sh 600 csr jws     only these targets
#
# VCC_FUZZ_SANITIZER=address (the default when a nightly toolchain is installed: AddressSanitizer
# needs -Zsanitizer) or none (the stable toolchain; what CI uses: panics, overflows and debug
# assertions are still caught, memory errors in C code are not). The targets are built with the
# coverage instrumentation cargo-fuzz uses, without needing cargo-fuzz itself.
#
# Each target starts from its committed seed corpus (fuzz/corpus/TARGET) plus what earlier runs on
# this machine found (target/fuzz-corpus/TARGET, not committed). A crash leaves its input in
# fuzz/artifacts/TARGET/ and ends the script non-zero: turn it into a regression test, and add the
# input to the seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(csr ocsp_request jws json_bodies pem revocation_build)
fi

sanitizer=${VCC_FUZZ_SANITIZER:-}
if [ -z "$sanitizer" ]; then
  if cargo +nightly --version >/dev/null 2>&1; then sanitizer=address; else sanitizer=none; fi
fi
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth"
flags+=" --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
toolchain=()
case "$sanitizer" in
  address) flags+=" -Zsanitizer=address"; toolchain=(+nightly) ;;
  none) ;;
  *) echo "VCC_FUZZ_SANITIZER must be address or none, not '$sanitizer'" >&2; exit 2 ;;
esac
triple=$(rustc -vV | sed -n 's/^host: //p')
target_dir="$PWD/target/fuzz-$sanitizer"

echo "== building the fuzz targets (sanitizer: $sanitizer)"
# --target keeps build scripts and proc macros uninstrumented, as cargo-fuzz does.
RUSTFLAGS="$flags" cargo "${toolchain[@]}" build --manifest-path fuzz/Cargo.toml --locked --release \
  --target "$triple" --target-dir "$target_dir" --bins

status=0
for target in "${targets[@]}"; do
  bin="$target_dir/$triple/release/$target"
  [ -x "$bin" ] || { echo "no fuzz target '$target' (see fuzz/Cargo.toml)" >&2; exit 2; }
  work="target/fuzz-corpus/$target"
  artifacts="fuzz/artifacts/$target"
  mkdir -p "$work" "$artifacts"
  echo "== fuzz $target for ${seconds}s"
  # New inputs go to the first directory (the work corpus); the seed corpus is only read.
  set +e
  "$bin" "$work" "fuzz/corpus/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" 2>&1 \
    | grep -E --line-buffered -v '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)'
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "fuzz target $target FAILED (exit $rc): its input is in $artifacts/" >&2
    status=1
  fi
done
exit $status
