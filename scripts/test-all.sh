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

# ACME clients and test peers (issue #14): certbot 5 from PyPI (ARI, profiles), Debian's lego and
# pebble (pebble-challtestsrv is the dns-01 test DNS server).
python3 -m pip install --quiet 'certbot>=5,<6'
hash -r
if ! command -v lego >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1 || ! command -v caddy >/dev/null 2>&1; then
  echo "== installing lego, pebble and caddy"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq lego pebble caddy; else sudo apt-get update -qq && sudo apt-get install -y -qq lego pebble caddy; fi
fi
command -v certbot >/dev/null && command -v lego >/dev/null && command -v pebble-challtestsrv >/dev/null && command -v caddy >/dev/null \
  || { echo "certbot, lego, caddy or pebble-challtestsrv missing after install" >&2; exit 1; }

# The dashboard's browser tests (issue #15): Playwright from PyPI driving Debian's Chromium.
python3 -m pip install --quiet 'playwright>=1.40,<2'
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi
command -v chromium >/dev/null || { echo "chromium missing after install" >&2; exit 1; }

# promtool (Debian's prometheus) checks /metrics and the alert rules (issue #16).
if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing prometheus (promtool)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq prometheus; else sudo apt-get update -qq && sudo apt-get install -y -qq prometheus; fi
fi
command -v promtool >/dev/null || { echo "promtool missing after install" >&2; exit 1; }
# systemd-analyze verifies contrib/vcc-pki.service.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "== installing systemd (systemd-analyze)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq systemd; else sudo apt-get update -qq && sudo apt-get install -y -qq systemd; fi
fi

# SoftHSM2: the PKCS#11 token the HSM key tests use (issue #17).
if ! command -v softhsm2-util >/dev/null 2>&1 || [ ! -f /usr/lib/softhsm/libsofthsm2.so ]; then
  echo "== installing softhsm2"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq softhsm2; else sudo apt-get update -qq && sudo apt-get install -y -qq softhsm2; fi
fi
[ -f /usr/lib/softhsm/libsofthsm2.so ] || { echo "softhsm2 missing after install" >&2; exit 1; }

# PostgreSQL for the store and API tests on the second backend (issue #5): the machine's cluster,
# a superuser role for the tests. Failing to reach it fails the suite.
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "== installing postgresql"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; else sudo apt-get install -y -qq postgresql; fi
fi
pg_version=$(ls /etc/postgresql | sort -n | tail -1)
export VCC_PG_CLUSTER_VERSION="$pg_version"
pg_ctlcluster "$pg_version" main start 2>/dev/null || pg_ctlcluster "$pg_version" main status >/dev/null
for _ in $(seq 1 30); do su postgres -c "psql -Xqc 'SELECT 1'" >/dev/null 2>&1 && break; sleep 1; done
role_sql=$(mktemp); chmod 644 "$role_sql"
cat > "$role_sql" <<'SQL'
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vcc') THEN CREATE ROLE vcc LOGIN SUPERUSER PASSWORD 'vcc'; END IF;
END$$;
SQL
su postgres -c "psql -Xq -f $role_sql"; rm -f "$role_sql"
export VCC_TEST_POSTGRES_URL="postgres://vcc:vcc@127.0.0.1:5432/postgres"
psql "$VCC_TEST_POSTGRES_URL" -XAtqc 'SELECT 1' >/dev/null || { echo "PostgreSQL not reachable at $VCC_TEST_POSTGRES_URL" >&2; exit 1; }

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

echo "== API integration tests again, on PostgreSQL"
pglog=$(mktemp)
set +e
# The replica and restart tests already ran on PostgreSQL in the first pass; the disk-full test is SQLite only.
VCC_TEST_DATABASE=postgres cargo test -p vcc-pki-testkit -p vcc-pki --locked --tests -- --skip two_replicas --skip requests_get_503 --skip a_full_sqlite_volume 2>&1 | tee "$pglog"
pgstatus=${PIPESTATUS[0]}
set -e
pgpassed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$pglog" | awk '{s+=$4} END {print s+0}')
rm -f "$pglog"
if [ "$pgstatus" -ne 0 ]; then exit "$pgstatus"; fi
if [ "$pgpassed" -lt 10 ]; then echo "too few tests ran on PostgreSQL ($pgpassed): failing" >&2; exit 1; fi
passed=$((passed + pgpassed))

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
# The fuzz targets (issue 18), 15 s each from the committed seed corpus, on the stable toolchain
# (no sanitizer): a crash fails the suite. scripts/fuzz.sh with no argument runs 10 minutes each.
echo "== fuzz targets, 15 s each"
VCC_FUZZ_SANITIZER=none bash scripts/fuzz.sh 15
echo "== all green: $passed Rust tests, $pyran Python tests, fuzz targets without a crash"
