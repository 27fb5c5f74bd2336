#!/usr/bin/env bash
# Run the fuzz targets in fuzz/ (issue 18) with cargo-fuzz on the nightly toolchain.
#
#   scripts/fuzz.sh                 every target for 600 s each
#   scripts/fuzz.sh 30              every target for 30 s each (what a short CI run uses)
#   scripts/fuzz.sh 600 csr jws     only these targets
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
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi
status=0
for target in "${targets[@]}"; do
  work="target/fuzz-corpus/$target"
  mkdir -p "$work"
  echo "== fuzz $target for ${seconds}s"
  if ! (cd fuzz && cargo +nightly fuzz run "$target" "../$work" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1); then
    echo "fuzz target $target FAILED: see fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit $status
