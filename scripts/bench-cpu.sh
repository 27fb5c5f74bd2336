#!/usr/bin/env bash
# CPU per request of the load generator and of the server, without a profiler (docs/PERFORMANCE.md).
#   bash scripts/bench-cpu.sh [SCENARIO] [extra bench options]     (default: issue-csr)
# Runs `vcc-pki bench SCENARIO --spawn` for 10 s and reads both processes' CPU time from /proc over
# 6 s in the middle of the run (after CSR generation, the crypto floor and the warm-up). Meant for the
# quick-to-prepare scenarios (P-256 issue-csr, issue-keygen, renew, ocsp, crl): RSA CSRs and revoke's
# pool take longer to prepare than the 5.5 s it waits.
set -euo pipefail
B=${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release/vcc-pki
S=${1:-issue-csr}
shift || true
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
"$B" bench "$S" --spawn --duration 10 --output json "$@" >"$OUT" &
BP=$!
sleep 5.5
SP=$(pgrep -P $BP -f serve | head -1 || true)
if [ -z "$SP" ]; then
  kill $BP 2>/dev/null || true
  echo "the spawned server was not found (did the bench fail to start?)" >&2
  exit 1
fi
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
b0=$(ticks $BP); s0=$(ticks "$SP"); sleep 6; b1=$(ticks $BP); s1=$(ticks "$SP")
wait $BP
python3 - "$OUT" $((b1 - b0)) $((s1 - s0)) "$HZ" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rate, load, server, hz = r["requests_per_second"], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cores = lambda ticks: ticks / hz / 6
per = lambda ticks: cores(ticks) / rate * 1e6
print(f"{r['scenario']}: {rate:.0f} req/s; CPU per request: load generator {per(load):.1f} µs, "
      f"server {per(server):.1f} µs ({cores(load):.2f} + {cores(server):.2f} cores)")
PY
