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
