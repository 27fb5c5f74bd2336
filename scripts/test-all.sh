#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests use, then every Rust test.
# Fails if no test ran ("no tests collected" is a failure, not a pass).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"; else sudo apt-get update -qq && sudo apt-get install -y -qq "${need_apt[@]}"; fi
fi
if ! command -v lint_pkix_cert >/dev/null 2>&1 || ! command -v lint_crl >/dev/null 2>&1 || ! command -v lint_ocsp_response >/dev/null 2>&1; then
  echo "== installing pkilint"
  python3 -m pip install --quiet pkilint
  hash -r
fi
command -v lint_ocsp_response >/dev/null && command -v lint_pkix_cert >/dev/null || { echo "pkilint not on PATH after install" >&2; exit 1; }
# The Python client's tests: cryptography makes keys on the client; uvicorn/fastapi run the README's service.
python3 -m pip install --quiet cryptography 'uvicorn==0.54.0' 'fastapi==0.165.0'

echo "== cargo build --release"
cargo build --release --locked

echo "== cargo test --workspace"
log=$(mktemp)
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
rm -f "$log"
echo "== Rust tests passed: $passed, failed: $failed, cargo exit: $status"
if [ "$status" -ne 0 ]; then exit "$status"; fi
if [ "$passed" -lt 1 ]; then echo "no Rust tests ran: failing" >&2; exit 1; fi

echo "== Python client tests (against target/release/vcc-pki)"
pylog=$(mktemp)
set +e
VCC_PKI_BIN="$PWD/target/release/vcc-pki" python3 -m unittest discover -s clients/python/tests -v 2>&1 | tee "$pylog"
pystatus=${PIPESTATUS[0]}
set -e
pyran=$(grep -Eo '^Ran [0-9]+ test' "$pylog" | awk '{print $2}' | tail -1)
rm -f "$pylog"
if [ "$pystatus" -ne 0 ]; then exit "$pystatus"; fi
if [ "${pyran:-0}" -lt 1 ]; then echo "no Python tests ran: failing" >&2; exit 1; fi
echo "== all green: $passed Rust tests, $pyran Python tests"
