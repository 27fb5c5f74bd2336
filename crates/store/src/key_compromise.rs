//! Re-revocation for keyCompromise (RFC 5280 §5.3.1 lets a CRL entry's reason change): a
//! certificate revoked for another reason becomes keyCompromise, its key is blocked for future
//! issuance and every other unrevoked certificate with that key is revoked, exactly as a first
//! keyCompromise revocation does; the revocation date stays the first one. One write transaction
//! with its audit row.
use crate::audit::append;
use crate::certificates::{revocation_audit, Revocation};
use crate::{parse_time, statements, AuditEntry, Result, RevokedRecord, Store, StoreError};
use vcc_pki_core::{RevocationReason, Serial};

impl Store {
    /// Change the reason of the revoked certificate `serial` to keyCompromise. Returns it (with
    /// its first revocation time) and every certificate revoked with it for sharing its key.
    pub async fn escalate_to_key_compromise(
        &self,
        serial: &Serial,
        revoked_by: &str,
        audit: &AuditEntry,
    ) -> Result<Vec<RevokedRecord>> {
        let (at, now) = crate::now_stored();
        let mut tx = self.begin_write().await?;
        type Row = (
            i64,
            i64,
            String,
            String,
            String,
            Option<i64>,
            String,
            String,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT r.certificate_id, r.issuer_ca_id, r.revoked_at, r.reason, r.revoked_by, r.crl_shard,
                    c.public_key_sha256, c.service_id
             FROM revoked_certificates r JOIN certificates c ON c.id = r.certificate_id
             WHERE r.serial_number = $1",
        )
        .bind(serial.to_hex())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((
            certificate_id,
            issuer_ca_id,
            revoked_at,
            reason,
            revoked_by_first,
            crl_shard,
            key,
            service_id,
        )) = row
        else {
            return Err(StoreError::NotFound(format!(
                "certificate {serial} is not revoked"
            )));
        };
        let key_compromise = RevocationReason::KeyCompromise;
        if reason == key_compromise.as_str() {
            return Err(StoreError::Conflict(format!(
                "certificate {serial} is already revoked for keyCompromise"
            )));
        }
        // Replaced, not updated: the new row's id is past every replica's last-seen revocation,
        // so each one's OCSP cache and shard CRL pick the new reason up as they do a revocation.
        sqlx::query("DELETE FROM revoked_certificates WHERE serial_number = $1")
            .bind(serial.to_hex())
            .execute(&mut *tx)
            .await?;
        sqlx::query(statements::INSERT_REVOCATION)
            .bind(certificate_id)
            .bind(serial.to_hex())
            .bind(issuer_ca_id)
            .bind(&revoked_at)
            .bind(key_compromise.as_str())
            .bind(i64::from(key_compromise.code()))
            .bind(&revoked_by_first)
            .bind(crl_shard)
            .execute(&mut *tx)
            .await?;
        sqlx::query(statements::BLOCK_KEY)
            .bind(&key)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        let mut revoked = vec![RevokedRecord {
            serial_number: serial.clone(),
            service_id,
            revoked_at: parse_time(&revoked_at)?,
            reason: key_compromise,
            crl_shard,
        }];
        let revocation = Revocation {
            target: crate::RevocationTarget::Serial(serial.clone()),
            reason: key_compromise,
            revoked_by: revoked_by.to_string(),
            audit: audit.clone(),
        };
        let siblings: Vec<statements::RevocationHit> = sqlx::query_as(statements::REVOKE_KEY)
            .bind(&key)
            .fetch_all(&mut *tx)
            .await?;
        for h in siblings {
            statements::bind_sqlx(
                sqlx::query(statements::INSERT_REVOCATION),
                statements::revocation_row(&h, &revocation, &now),
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(statements::SCHEDULE_REVOKED)
                .bind(&now)
                .bind(h.id)
                .execute(&mut *tx)
                .await?;
            revoked.push(h.revoked(&revocation, at));
        }
        let mut entry = revocation_audit(audit, &revoked);
        entry.set_detail("previous_reason", serde_json::Value::String(reason));
        append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}
