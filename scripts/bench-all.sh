#!/usr/bin/env bash
# Reproduce the figures of docs/PERFORMANCE.md: builds the release binary, then runs each scenario
# against its own throwaway server (`--spawn`), one after the other, and keeps the JSON reports.
# Run it on an otherwise idle machine: the load generator and the server share the cores.
#   bash scripts/bench-all.sh [OUT_DIR]      (default: target/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench}
mkdir -p "$out"
cargo build --release -p vcc-pki
bin=${CARGO_TARGET_DIR:-target}/release/vcc-pki
duration=${BENCH_DURATION:-10}

run() {
  local name=$1
  shift
  echo "== $name: vcc-pki bench $*"
  "$bin" bench "$@" --spawn --duration "$duration" --concurrency 64 --output json >"$out/$name.json"
  python3 - "$out/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l, f = r["latency_ms"], r.get("floor") or {}
print(f'   {r["requests_per_second"]:.0f} req/s, {r["errors"]} errors, p50 {l["p50"]:.1f} / p90 {l["p90"]:.1f} / '
      f'p99 {l["p99"]:.1f} / max {l["max"]:.1f} ms, floor {f.get("floor_per_second", 0):.0f}/s, '
      f'ratio {r.get("ratio_percent") or 0:.1f} %, RSS idle {r["server_rss"]["idle"]["rss_kb"]} kB, '
      f'peak {r["server_rss"]["after_run"]["hwm_kb"]} kB')
PY
}

uptime
nproc
lscpu | grep -E 'Model name|^CPU\(s\)'
run issue-csr-p256 issue-csr --ca-key ecdsa-p256
run issue-csr-rsa2048 issue-csr --ca-key rsa-2048 --csr-key rsa-2048
run issue-keygen issue-keygen --ca-key ecdsa-p256
run renew renew --ca-key ecdsa-p256
# Revocations are group-committed too (≈ 7 000/s): 10 s need a pool far above the default 10 000.
run revoke revoke --ca-key ecdsa-p256 --pool 90000
run crl crl --ca-key ecdsa-p256
run ocsp ocsp --ca-key ecdsa-p256
run ocsp-plain-http ocsp --ca-key ecdsa-p256 --plain-http
run crl-plain-http crl --ca-key ecdsa-p256 --plain-http
echo "JSON reports in $out/"
