//! ACME Renewal Information (RFC 9773): renewal windows an admin pulled forward, and the
//! one-replacement-per-certificate rule of `replaces`.
use crate::audit::{append, AuditEntry};
use crate::{format_time, parse_time, Result, Store};
use time::OffsetDateTime;

/// Which certificates `vcc-pki acme ari move` pulls forward (active, unexpired ones only).
#[derive(Debug, Clone)]
pub enum RenewalSelection {
    Serials(Vec<vcc_pki_core::Serial>),
    Service(String),
    IssuedBefore(OffsetDateTime),
    All,
}

/// A renewal window set by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalOverride {
    pub window_start: OffsetDateTime,
    pub window_end: OffsetDateTime,
    pub explanation_url: Option<String>,
}

impl Store {
    /// Set the renewal window of the selected active, unexpired certificates; how many.
    pub async fn move_renewal_windows(
        &self,
        selection: &RenewalSelection,
        window: &RenewalOverride,
        audit: &AuditEntry,
    ) -> Result<u64> {
        let now = format_time(OffsetDateTime::now_utc());
        let mut tx = self.begin_write().await?;
        let insert = "INSERT INTO acme_renewal_overrides (serial_number, window_start, window_end, explanation_url, created_at)
             SELECT serial_number, $1, $2, $3, $4 FROM certificates
             WHERE status = 'active' AND not_after > $4";
        let upsert =
            " ON CONFLICT (serial_number) DO UPDATE SET window_start = $1, window_end = $2,
                         explanation_url = $3, created_at = $4";
        let start = format_time(window.window_start);
        let end = format_time(window.window_end);
        let mut moved = 0;
        match selection {
            RenewalSelection::Serials(serials) => {
                for serial in serials {
                    let sql = format!("{insert} AND serial_number = $5{upsert}");
                    moved += sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&start)
                        .bind(&end)
                        .bind(&window.explanation_url)
                        .bind(&now)
                        .bind(serial.to_hex())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
            }
            RenewalSelection::Service(service_id) => {
                let sql = format!("{insert} AND service_id = $5{upsert}");
                moved = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&start)
                    .bind(&end)
                    .bind(&window.explanation_url)
                    .bind(&now)
                    .bind(service_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            RenewalSelection::IssuedBefore(before) => {
                let sql = format!("{insert} AND not_before < $5{upsert}");
                moved = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&start)
                    .bind(&end)
                    .bind(&window.explanation_url)
                    .bind(&now)
                    .bind(format_time(*before))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            RenewalSelection::All => {
                let sql = format!("{insert}{upsert}");
                moved = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&start)
                    .bind(&end)
                    .bind(&window.explanation_url)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        let mut audit = audit.clone();
        audit.set_detail("moved", serde_json::json!(moved));
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// The window an admin set for `serial`, if any.
    pub async fn renewal_override(
        &self,
        serial: &vcc_pki_core::Serial,
    ) -> Result<Option<RenewalOverride>> {
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT window_start, window_end, explanation_url FROM acme_renewal_overrides WHERE serial_number = $1",
        )
        .bind(serial.to_hex())
        .fetch_optional(&self.read)
        .await?;
        row.map(|(start, end, explanation_url)| {
            Ok(RenewalOverride {
                window_start: parse_time(&start)?,
                window_end: parse_time(&end)?,
                explanation_url,
            })
        })
        .transpose()
    }
}
