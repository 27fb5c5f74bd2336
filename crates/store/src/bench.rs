//! Synthetic rows for the revocation-scale benchmark (`vcc-pki bench-revocation`): many revoked
//! certificates written straight into the store by SQL, not over HTTP.
use crate::{format_time, Backend, Result, Store};
use time::OffsetDateTime;

impl Store {
    /// Insert `count` revoked certificates of `issuer_ca_id` for service `bench-revoked`, valid for a
    /// year, in batches of `batch` rows per transaction. Serials are distinct and never collide with
    /// real serials (16 bytes starting `40`): they are 9 bytes starting `7f`, in canonical hex (no
    /// leading zero), as every stored serial is. With `crl_shards` > 0 they are spread
    /// over that many CRL shards, as issuance with a public URL does.
    pub async fn bench_fill_revoked(
        &self,
        issuer_ca_id: i64,
        count: i64,
        batch: i64,
        crl_shards: u32,
    ) -> Result<()> {
        let shard = if crl_shards > 0 {
            format!("n % {crl_shards}")
        } else {
            "NULL".to_string()
        };
        let now = OffsetDateTime::now_utc();
        let (nb, na) = (
            format_time(now),
            format_time(now + time::Duration::days(365)),
        );
        {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO services (service_id, service_name, created_at, updated_at) VALUES ('bench-revoked', 'benchmark', $1, $1)
                 ON CONFLICT (service_id) DO NOTHING",
            )
            .bind(&nb)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        let (hex16, hex32, hex64) = match self.backend {
            Backend::Sqlite => (
                "printf('%016x', n)",
                "printf('%032x', n)",
                "printf('%064x', n)",
            ),
            Backend::Postgres => (
                "lpad(to_hex(n), 16, '0')",
                "lpad(to_hex(n), 32, '0')",
                "lpad(to_hex(n), 64, '0')",
            ),
        };
        let series = match self.backend {
            Backend::Sqlite => "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) SELECT n FROM seq",
            Backend::Postgres => "SELECT generate_series($1::BIGINT, $2::BIGINT) AS n",
        };
        let mut start = 1;
        while start <= count {
            let end = (start + batch - 1).min(count);
            let mut tx = self.begin_write().await?;
            let insert_certs = format!(
                "INSERT INTO certificates (serial_number, service_id, common_name, san_dns, san_ip, profile, key_type, key_source,
                   public_key_sha256, fingerprint_sha256, certificate_der, issuer_ca_id, not_before, not_after, status, created_at, crl_shard)
                 SELECT '7f' || {hex16}, 'bench-revoked', 'bench', '[]', '[]', 'server', 'ecdsa-p256', 'csr',
                   {hex64}, 'be' || {hex32} || {hex32}, $3, $4, $5, $6, 'revoked', $5, {shard}
                 FROM ({series}) AS s"
            );
            sqlx::query(sqlx::AssertSqlSafe(insert_certs))
                .bind(start)
                .bind(end)
                .bind(vec![0u8])
                .bind(issuer_ca_id)
                .bind(&nb)
                .bind(&na)
                .execute(&mut *tx)
                .await?;
            let insert_revoked = format!(
                "INSERT INTO revoked_certificates (certificate_id, serial_number, issuer_ca_id, revoked_at, reason, reason_code, revoked_by, crl_shard)
                 SELECT c.id, c.serial_number, c.issuer_ca_id, $1, 'superseded', 4, 'benchmark', c.crl_shard FROM certificates c
                 WHERE c.serial_number IN (SELECT '7f' || {hex16} FROM ({series}) AS s2)",
            )
            .replace("$1 UNION", "$2 UNION")
            .replace("n < $2)", "n < $3)")
            .replace("generate_series($1::BIGINT, $2::BIGINT)", "generate_series($2::BIGINT, $3::BIGINT)");
            sqlx::query(sqlx::AssertSqlSafe(insert_revoked))
                .bind(&nb)
                .bind(start)
                .bind(end)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            start = end + 1;
        }
        Ok(())
    }
}

impl Store {
    /// Insert `count` certificates of `issuer_ca_id` shaped like a fleet's inventory, for
    /// `vcc-pki bench inventory`: 1000 services (`inv-0` … `inv-999`), three profiles, one DNS
    /// name each (`h{n}.inv.test`, also the CN), serials and fingerprints spread over the key space,
    /// expiry spread from 200 days ago to 400 days ahead (a third expired), issuance over the last
    /// 30 days, one in a hundred revoked. Written by SQL in batches, through the same triggers
    /// (names, counters) as issuance.
    pub async fn bench_fill_inventory(
        &self,
        issuer_ca_id: i64,
        count: i64,
        batch: i64,
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        let created = format_time(now);
        {
            let mut tx = self.begin_write().await?;
            for s in 0..1000 {
                sqlx::query(
                    "INSERT INTO services (service_id, service_name, created_at, updated_at) VALUES ($1, 'benchmark', $2, $2)
                     ON CONFLICT (service_id) DO NOTHING",
                )
                .bind(format!("inv-{s}"))
                .bind(&created)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        let base_expiry = format_time(now - time::Duration::days(200));
        let base_created = format_time(now - time::Duration::days(29));
        let (serial, fingerprint, expiry, issued, series) = match self.backend {
            Backend::Sqlite => (
                "'7e' || printf('%08x%010x', (n * 2654435761) % 4294967291, n)",
                "printf('%08x%056x', (n * 40503) % 4294967291, n)",
                "strftime('%Y-%m-%dT%H:%M:%SZ', $4, '+' || (n % 600) || ' days', '+' || (n % 86400) || ' seconds')",
                "strftime('%Y-%m-%dT%H:%M:%SZ', $5, '+' || (n % 29) || ' days')",
                "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) SELECT n FROM seq",
            ),
            Backend::Postgres => (
                "'7e' || lpad(to_hex((n * 2654435761) % 4294967291), 8, '0') || lpad(to_hex(n), 10, '0')",
                "lpad(to_hex((n * 40503) % 4294967291), 8, '0') || lpad(to_hex(n), 56, '0')",
                "to_char(($4::timestamptz + (n % 600) * interval '1 day' + (n % 86400) * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                "to_char(($5::timestamptz + (n % 29) * interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                "SELECT generate_series($1::BIGINT, $2::BIGINT) AS n",
            ),
        };
        let mut start = 1;
        while start <= count {
            let end = (start + batch - 1).min(count);
            let mut tx = self.begin_write().await?;
            let insert = format!(
                "INSERT INTO certificates (serial_number, service_id, common_name, san_dns, san_ip, profile, key_type, key_source,
                   public_key_sha256, fingerprint_sha256, certificate_der, issuer_ca_id, not_before, not_after, status, created_at, crl_shard)
                 SELECT {serial}, 'inv-' || (n % 1000), 'h' || n || '.inv.test', '[\"h' || n || '.inv.test\"]', '[]',
                   CASE n % 3 WHEN 0 THEN 'server' WHEN 1 THEN 'client' ELSE 'tlsserver' END, 'ecdsa-p256', 'csr',
                   {fingerprint}, {fingerprint}, $3, $6, $4, {expiry},
                   CASE WHEN n % 100 = 0 THEN 'revoked' ELSE 'active' END, {issued}, NULL
                 FROM ({series}) AS s"
            );
            sqlx::query(sqlx::AssertSqlSafe(insert))
                .bind(start)
                .bind(end)
                .bind(vec![0u8])
                .bind(&base_expiry)
                .bind(&base_created)
                .bind(issuer_ca_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO revoked_certificates (certificate_id, serial_number, issuer_ca_id, revoked_at, reason, reason_code, revoked_by, crl_shard)
                 SELECT id, serial_number, issuer_ca_id, created_at, 'superseded', 4, 'benchmark', NULL FROM certificates
                 WHERE status = 'revoked' AND service_id LIKE 'inv-%' AND id > (SELECT COALESCE(MAX(certificate_id), 0) FROM revoked_certificates)",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            start = end + 1;
        }
        Ok(())
    }
}

impl Store {
    /// PostgreSQL: refresh the planner's statistics after a bulk fill, as autovacuum does on a
    /// server soon after (SQLite keeps none unless asked, and is measured as the server runs it).
    pub async fn bench_analyze(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE").execute(&self.write).await?;
        }
        Ok(())
    }

    /// Every certificate counted row by row: the reference `bench inventory` compares with.
    pub async fn bench_count_certificates(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM certificates")
            .fetch_one(&self.read)
            .await?;
        Ok(n)
    }
}
