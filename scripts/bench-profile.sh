#!/usr/bin/env bash
# Profile the server during `vcc-pki bench issue-csr` (docs/PERFORMANCE.md, "Profile").
#   bash scripts/bench-profile.sh [DIR]
# Starts a throwaway server in DIR (default /tmp/vcc-pki-profile, deleted first) with a P-256 CA,
# runs a 10 s issue-csr load against it and meanwhile records, for 6 s: a perf sampling profile
# (cpu-clock: this VM exposes no hardware counters), CPU per process and per thread, and context
# switches per thread kind. Then it times the keyCompromise check of the store at the final size.
# A DIR on tmpfs (/dev/shm/...) repeats it without the cost of fsync.
set -euo pipefail
D=${1:-/tmp/vcc-pki-profile}
B=${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release/vcc-pki
# The group-commit writer traces each batch (size, time); the report sums them over the run.
export VCC_PKI_LOG=warn,vcc_pki_store::group_commit=trace
PW=bench-profile-password
rm -rf "$D" && mkdir -p "$D"

start() {
  VCC_CA_PASSWORD=$PW "$B" serve --port 0 --data-dir "$D/data" >"$D/out.log" 2>>"$D/err.log" &
  PID=$!
  for _ in $(seq 50); do grep -q listening "$D/out.log" 2>/dev/null && break; sleep 0.2; done
  U=$(sed -n 's/vcc-pki listening on //p' "$D/out.log")
}
start
trap 'kill $PID 2>/dev/null || true' EXIT
for level in init-root create-intermediate; do
  VCC_CA_PASSWORD=$PW "$B" --server "$U" --data-dir "$D/data" ca $level --cn "Profile $level" --org VCC \
    --key-type ecdsa-p256 >/dev/null
done

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
threads() { for t in /proc/$PID/task/*; do echo "$(basename "$t")|$(cat "$t/comm")|$(awk '{print $14+$15}' "$t/stat")|$(awk '/ctxt_switches/{s+=$2} END{print s}' "$t/status")"; done | sort; }
"$B" --server "$U" --data-dir "$D/data" bench issue-csr --duration 10 --warmup 1 --output json >"$D/run.json" &
BP=$!
sleep 4.5 # CSRs, crypto floor (2 s) and warm-up (1 s) come first
threads >"$D/t0"; s0=$(ticks $PID); c0=$(ticks $BP)
perf record -e cpu-clock -F 999 -p $PID -o "$D/server.perf" -- sleep 6 2>/dev/null
threads >"$D/t1"; s1=$(ticks $PID); c1=$(ticks $BP)
wait $BP
echo "CPU over 6 s (100 ticks = 1 core-second): server $((s1 - s0)), load generator $((c1 - c0))"
join -t'|' "$D/t0" "$D/t1" | awk -F'|' '{cpu[$2]+=$6-$3; cs[$2]+=$7-$4; n[$2]++} END {for (k in cpu) printf "  %-16s %2d threads  %4d ticks  %7d context switches\n", k, n[k], cpu[k], cs[k]}'
python3 - "$D" <<'PY'
import collections, json, re, sqlite3, subprocess, sys, time
d = sys.argv[1]
r = json.load(open(f"{d}/run.json"))
print(f"run: {r['requests_per_second']:.0f} req/s, {r['errors']} errors, latency {r['latency_ms']}, per second {r['per_second']}")
c = sqlite3.connect(f"file:{d}/data/pki.db?mode=ro", uri=True)
q = "SELECT COUNT(*) FROM compromised_keys WHERE public_key_sha256 = 'x'"
plan = [row[3] for row in c.execute("EXPLAIN QUERY PLAN " + q)]
t = time.perf_counter()
for _ in range(20):
    c.execute(q).fetchall()
rows = c.execute("SELECT COUNT(*) FROM certificates").fetchone()[0]
print(f"keyCompromise check at {rows} certificates: {plan}, {(time.perf_counter() - t) / 20 * 1e3:.3f} ms")
out = subprocess.run(["perf", "report", "-i", f"{d}/server.perf", "--stdio", "--sort", "dso,sym", "--percent-limit", "0"],
                     capture_output=True, text=True).stdout
cats, top = collections.Counter(), []
rules = [("SQLite + sqlx", r"sqlite|btree|pcache|wal[A-Z]|Vdbe|getCellInfo|Varint|MemCompare"),
         ("crypto (aws-lc)", r"ecp_nistz|bn_|BN_|ECDSA|p256|sha256_block|aws_lc|rsaz|RSA|aes|gcm|ghash"),
         ("TLS (rustls)", r"rustls"), ("libc malloc/memcpy", r"malloc|free|memmove|memcpy|memset|_int_|memcmp"),
         ("tokio/hyper/axum/flume", r"tokio|hyper|axum|futures|flume|park|std::thread|syscall|pthread|mio"),
         ("X.509/DER/JSON", r"x509|der|asn1|rcgen|yasna|pem|base64|serde|json")]
for line in out.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m[1]), m[2], m[3], m[4].strip()
    top.append((pct, sym))
    if kind == "k":
        cat = "kernel: scheduling" if re.search(r"switch|schedule|spin_unlock|futex|wake|irqentry", sym) else "kernel: other"
    else:
        cat = next((name for name, rx in rules if re.search(rx, sym, re.I)), "other")
    cats[cat] += pct
print("perf samples by kind:")
for cat, pct in cats.most_common():
    print(f"  {pct:5.1f} %  {cat}")
print("top symbols:")
for pct, sym in sorted(top, reverse=True)[:12]:
    print(f"  {pct:5.2f} %  {sym[:100]}")
batches = []
for line in open(f"{d}/err.log", errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    m = re.search(r"T(\d\d):(\d\d):([\d.]+)Z.*batch committed size=(\d+) micros=(\d+)", line)
    if m:
        batches.append((int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]), int(m[4]), int(m[5])))
if batches:
    # The middle of the run: after the warm-up, before the tail.
    t0, t1 = batches[0][0] + 4, batches[-1][0] - 1
    mid = [(n, us) for t, n, us in batches if t0 <= t <= t1] or [(n, us) for _, n, us in batches]
    span = max(t1 - t0, 1e-9)
    print(f"group-commit writer: {len(mid)} batches, {sum(n for n, _ in mid) / len(mid):.1f} certificates and "
          f"{sum(us for _, us in mid) / len(mid) / 1000:.2f} ms each, in a batch {sum(us for _, us in mid) / 1e6 / span * 100:.0f} % of the time")
PY
