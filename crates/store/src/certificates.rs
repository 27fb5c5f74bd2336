//! Service certificates: issuance records, inventory queries and revocation.
use crate::audit::{append, AuditEntry};
use crate::services::NewService;
use crate::statements;
use crate::Refusal;
use crate::{format_time, parse_json_list, parse_time, Backend, Result, Store, StoreError};
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;
use vcc_pki_core::{KeyType, RevocationReason, Serial};

#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub serial_number: Serial,
    pub service_id: String,
    pub common_name: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub profile: String,
    pub key_type: KeyType,
    pub key_source: String,
    pub public_key_sha256: String,
    pub fingerprint_sha256: String,
    pub certificate_der: Vec<u8>,
    pub issuer_ca_id: i64,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub renewed_from: Option<Serial>,
    /// The CRL shard named in the certificate's CRL distribution point; `None`: the complete CRL only.
    pub crl_shard: Option<i64>,
    /// When the rotation schedule says renewal is due (the profile's rule, decided by the caller).
    pub renew_after: OffsetDateTime,
}

/// A certificate's status as the inventory reports it: its stored state and, for an
/// unrevoked one, where its expiry stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    Active,
    /// Valid, and expires within [`EXPIRING_WITHIN`].
    Expiring,
    Expired,
    Revoked,
}

/// A valid certificate that expires within this is reported as expiring.
pub const EXPIRING_WITHIN: time::Duration = time::Duration::days(30);

impl CertificateStatus {
    pub const ALL: [CertificateStatus; 4] =
        [Self::Active, Self::Expiring, Self::Expired, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Valid now: neither revoked nor expired.
    pub fn is_valid(self) -> bool {
        matches!(self, Self::Active | Self::Expiring)
    }
}

impl std::fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored certificate with its derived status.
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    pub id: i64,
    pub serial_number: Serial,
    pub service_id: String,
    pub common_name: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub profile: String,
    pub key_type: KeyType,
    pub key_source: String,
    pub public_key_sha256: String,
    pub fingerprint_sha256: String,
    pub certificate_der: Vec<u8>,
    pub issuer_ca_id: i64,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub status: CertificateStatus,
    pub days_until_expiry: i64,
    pub renewed_from: Option<Serial>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<RevocationReason>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct CertificateRow {
    id: i64,
    serial_number: String,
    service_id: String,
    common_name: String,
    san_dns: String,
    san_ip: String,
    profile: String,
    key_type: String,
    key_source: String,
    public_key_sha256: String,
    fingerprint_sha256: String,
    certificate_der: Vec<u8>,
    issuer_ca_id: i64,
    not_before: String,
    not_after: String,
    derived_status: String,
    renewed_from: Option<String>,
    created_at: String,
    revoked_at: Option<String>,
    reason: Option<String>,
}

impl TryFrom<CertificateRow> for CertificateRecord {
    type Error = StoreError;

    fn try_from(r: CertificateRow) -> Result<Self> {
        let not_after = parse_time(&r.not_after)?;
        Ok(Self {
            id: r.id,
            serial_number: crate::parse_serial(&r.serial_number)?,
            service_id: r.service_id,
            common_name: r.common_name,
            san_dns: parse_json_list(&r.san_dns),
            san_ip: parse_json_list(&r.san_ip),
            profile: r.profile,
            key_type: crate::parse_key_type(&r.key_type)?,
            key_source: r.key_source,
            public_key_sha256: r.public_key_sha256,
            fingerprint_sha256: r.fingerprint_sha256,
            certificate_der: r.certificate_der,
            issuer_ca_id: r.issuer_ca_id,
            not_before: parse_time(&r.not_before)?,
            not_after,
            status: CertificateStatus::parse(&r.derived_status).ok_or_else(|| {
                StoreError::Corrupt(format!("certificate status '{}'", r.derived_status))
            })?,
            days_until_expiry: (not_after - OffsetDateTime::now_utc()).whole_days(),
            renewed_from: r
                .renewed_from
                .as_deref()
                .map(crate::parse_serial)
                .transpose()?,
            created_at: parse_time(&r.created_at)?,
            revoked_at: r.revoked_at.as_deref().map(parse_time).transpose()?,
            revocation_reason: r.reason.as_deref().map(crate::parse_reason).transpose()?,
        })
    }
}

pub(crate) const SELECT_CERT: &str = "SELECT c.id, c.serial_number, c.service_id, c.common_name, c.san_dns, c.san_ip, c.profile,
    c.key_type, c.key_source, c.public_key_sha256, c.fingerprint_sha256, c.certificate_der, c.issuer_ca_id,
    c.not_before, c.not_after,
    CASE WHEN c.status = 'revoked' THEN 'revoked'
         WHEN c.not_after <= $1 THEN 'expired'
         WHEN c.not_after <= $2 THEN 'expiring'
         ELSE 'active' END AS derived_status,
    c.renewed_from, c.created_at, r.revoked_at, r.reason
    FROM certificates c LEFT JOIN revoked_certificates r ON r.certificate_id = c.id";

/// The two times SELECT_CERT binds as $1 and $2: now, and the start of the 30-day "expiring" window's end.
pub(crate) fn status_times() -> (String, String) {
    let now = OffsetDateTime::now_utc();
    (format_time(now), format_time(now + EXPIRING_WITHIN))
}

/// What a revocation changed.
#[derive(Debug, Clone)]
pub struct RevokedRecord {
    pub serial_number: Serial,
    pub service_id: String,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
    /// The CRL shard that must be rebuilt to list it (besides the complete CRL).
    pub crl_shard: Option<i64>,
}

/// How an issuance is authorised, for the parts that must change in the same transaction.
#[derive(Debug, Clone, Default)]
pub struct IssueEffects {
    /// Create this service record if the service does not exist yet (admin issues first, registers after).
    pub create_service: Option<NewService>,
    /// Use up this service's enrollment token (matched by hash); fails if it was used meanwhile.
    pub consume_enrollment: Option<(String, String)>,
    /// Complete this ACME order, (account id, order id): processing → valid, with the new serial.
    pub complete_acme_order: Option<(String, String)>,
}

impl IssueEffects {
    /// True when the issuance changes nothing but the certificate (and perhaps a new service
    /// row), so a group commit may insert it in bulk; otherwise it runs its own statements
    /// (using up a token, completing an ACME order) in a savepoint.
    pub(crate) fn bulk_insertable(&self) -> bool {
        self.consume_enrollment.is_none() && self.complete_acme_order.is_none()
    }
}

impl Store {
    /// Store an issued certificate (and its rotation schedule and audit row) in one transaction.
    /// Returns only after the commit: the caller may hand the certificate out afterwards.
    ///
    /// Issuances are group-committed: a writer task puts every insert waiting at that moment into
    /// one transaction (each in its own savepoint, so one refusal does not undo the others) and
    /// answers each caller only after that transaction's commit.
    pub async fn insert_certificate(
        &self,
        cert: &NewCertificate,
        effects: &IssueEffects,
        audit: &AuditEntry,
    ) -> Result<i64> {
        self.group_commit
            .submit(cert.clone(), effects.clone(), audit.clone())
            .await
    }
}

/// The body of one issuance, inside the caller's (batch) transaction.
pub(crate) async fn insert_certificate_in(
    tx: &mut Transaction<'_, Any>,
    cert: &NewCertificate,
    effects: &IssueEffects,
    audit: &AuditEntry,
) -> Result<i64> {
    {
        let now = format_time(OffsetDateTime::now_utc());
        if let Some(service) = &effects.create_service {
            statements::bind_sqlx(
                sqlx::query(sqlx::AssertSqlSafe(statements::insert_services(
                    &statements::numbered_row(statements::SERVICE_WIDTH),
                ))),
                statements::service_row(service, &now),
            )
            .execute(&mut **tx)
            .await?;
        }
        if let Some(order_id) = &effects.complete_acme_order {
            crate::acme::complete_order_in(tx, order_id, &cert.serial_number.to_hex()).await?;
        }
        if let Some((service_id, token_hash)) = &effects.consume_enrollment {
            let used = sqlx::query(
                "UPDATE services SET enrollment_used_at = $1, updated_at = $2
                 WHERE service_id = $3 AND enrollment_token_hash = $4 AND enrollment_used_at IS NULL",
            )
            .bind(&now)
            .bind(&now)
            .bind(service_id)
            .bind(token_hash)
            .execute(&mut **tx)
            .await?;
            if used.rows_affected() != 1 {
                return Err(StoreError::Refused(Refusal::EnrollmentUsed));
            }
        }
        // Checked inside the write transaction, so a concurrent revocation cannot slip between
        // the authority's check and this insert.
        if let Some(previous) = &cert.renewed_from {
            let status: Option<(String,)> =
                sqlx::query_as("SELECT status FROM certificates WHERE serial_number = $1")
                    .bind(previous.to_hex())
                    .fetch_optional(&mut **tx)
                    .await?;
            if status.as_ref().is_none_or(|(s,)| s != "active") {
                return Err(StoreError::Refused(Refusal::PredecessorNotActive(
                    previous.clone(),
                )));
            }
        }
        let (compromised,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM compromised_keys WHERE public_key_sha256 = $1")
                .bind(&cert.public_key_sha256)
                .fetch_one(&mut **tx)
                .await?;
        if compromised > 0 {
            return Err(StoreError::Refused(Refusal::KeyCompromised));
        }
        let id = statements::bind_sqlx(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} RETURNING id",
                statements::insert_certificates(&statements::numbered_row(
                    statements::CERTIFICATE_WIDTH
                ))
            ))),
            statements::certificate_row(cert, &now),
        )
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict("serial number already used".into())
            }
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::NotFound("service".into())
            }
            other => StoreError::Database(other),
        })?
        .try_get::<i64, _>(0)?;
        statements::bind_sqlx(
            sqlx::query(sqlx::AssertSqlSafe(statements::insert_schedules(
                &statements::numbered_row(statements::SCHEDULE_WIDTH),
            ))),
            statements::schedule_row(id, cert, &now),
        )
        .execute(&mut **tx)
        .await?;
        if let Some(previous) = &cert.renewed_from {
            sqlx::query(statements::MARK_RENEWED)
                .bind(&now)
                .bind(previous.to_hex())
                .execute(&mut **tx)
                .await?;
        }
        append(tx, audit).await?;
        Ok(id)
    }
}

impl Store {
    pub async fn certificate_by_serial(
        &self,
        serial: &Serial,
    ) -> Result<Option<CertificateRecord>> {
        let (now, soon) = status_times();
        let row: Option<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_CERT} WHERE c.serial_number = $3"
        )))
        .bind(&now)
        .bind(&soon)
        .bind(serial.to_hex())
        .fetch_optional(&self.read)
        .await?;
        row.map(CertificateRecord::try_from).transpose()
    }

    /// The service's newest certificate that is neither revoked nor expired, else its newest one.
    pub async fn current_certificate(&self, service_id: &str) -> Result<Option<CertificateRecord>> {
        let (now, soon) = status_times();
        let row: Option<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_CERT} WHERE c.service_id = $3
             ORDER BY CASE WHEN c.status = 'active' AND c.not_after > $1 THEN 1 ELSE 0 END DESC, c.id DESC LIMIT 1"
        )))
        .bind(&now)
        .bind(&soon)
        .bind(service_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(CertificateRecord::try_from).transpose()
    }

    /// Revoke in one transaction: one serial, or every unexpired, unrevoked certificate of a service
    /// (selected inside the transaction, so a renewal racing with it cannot survive). For
    /// keyCompromise every other certificate with the same public key is revoked too, and the key is
    /// blocked for future issuance. Already revoked certificates are left as they are.
    ///
    /// On SQLite the revocation joins the group-commit writer's next batch (one transaction and
    /// fsync for all revocations waiting); it returns after the commit either way.
    pub async fn revoke_certificates(
        &self,
        target: &RevocationTarget,
        reason: RevocationReason,
        revoked_by: &str,
        audit: &AuditEntry,
    ) -> Result<Vec<RevokedRecord>> {
        let revocation = Revocation {
            target: target.clone(),
            reason,
            revoked_by: revoked_by.to_string(),
            audit: audit.clone(),
        };
        if self.backend == Backend::Sqlite {
            return self.group_commit.revoke(revocation).await;
        }
        let mut tx = self.begin_write().await?;
        let revoked = revoke_in(&mut tx, &revocation).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}

/// A revocation request, as the store carries it to the writer.
#[derive(Debug, Clone)]
pub(crate) struct Revocation {
    pub target: RevocationTarget,
    pub reason: RevocationReason,
    pub revoked_by: String,
    pub audit: AuditEntry,
}

/// The revocation's statements inside the caller's write transaction (see
/// [`Store::revoke_certificates`]).
pub(crate) async fn revoke_in(
    tx: &mut Transaction<'_, Any>,
    revocation: &Revocation,
) -> Result<Vec<RevokedRecord>> {
    let (at, now) = crate::now_stored();
    let (sql, params) = statements::revoke_target(&revocation.target, &now);
    let mut hit: Vec<statements::RevocationHit> =
        statements::bind_sqlx(sqlx::query_as(sql), params)
            .fetch_all(&mut **tx)
            .await?;
    if statements::blocks_key(revocation) {
        let keys: Vec<String> = hit.iter().map(|h| h.public_key_sha256.clone()).collect();
        for key in keys {
            sqlx::query(statements::BLOCK_KEY)
                .bind(&key)
                .bind(&now)
                .execute(&mut **tx)
                .await?;
            let siblings: Vec<statements::RevocationHit> = sqlx::query_as(statements::REVOKE_KEY)
                .bind(&key)
                .fetch_all(&mut **tx)
                .await?;
            hit.extend(siblings);
        }
    }
    let mut revoked = Vec::with_capacity(hit.len());
    for h in hit {
        statements::bind_sqlx(
            sqlx::query(statements::INSERT_REVOCATION),
            statements::revocation_row(&h, revocation, &now),
        )
        .execute(&mut **tx)
        .await?;
        sqlx::query(statements::SCHEDULE_REVOKED)
            .bind(&now)
            .bind(h.id)
            .execute(&mut **tx)
            .await?;
        revoked.push(h.revoked(revocation, at));
    }
    append(tx, &revocation_audit(&revocation.audit, &revoked)).await?;
    Ok(revoked)
}

/// The revocation's audit row, naming every serial it revoked.
pub(crate) fn revocation_audit(audit: &AuditEntry, revoked: &[RevokedRecord]) -> AuditEntry {
    let mut audit = audit.clone();
    audit.set_detail(
        "revoked",
        serde_json::json!(revoked
            .iter()
            .map(|r| r.serial_number.to_hex())
            .collect::<Vec<_>>()),
    );
    audit
}

/// What a revocation request names.
#[derive(Debug, Clone)]
pub enum RevocationTarget {
    Serial(Serial),
    Service(String),
}

impl Store {
    /// Id of the newest revocation (0 if none): where a follower of revocations starts.
    pub async fn last_revocation_id(&self) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM revoked_certificates")
            .fetch_one(&self.read)
            .await?;
        Ok(id)
    }

    /// Revocations committed after `after_id`, oldest first: (id, serial). Every write takes the
    /// store's write lock (the one writer on SQLite, an advisory lock on PostgreSQL), so ids become
    /// visible in increasing order and a follower that remembers the last id misses none.
    /// A row whose serial does not parse comes back as `None` (logged), so that a follower still
    /// moves past it.
    pub async fn revocations_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Option<Serial>)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, serial_number FROM revoked_certificates WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, serial)| match Serial::from_hex(&serial) {
                Some(s) => (id, Some(s)),
                None => {
                    tracing::warn!(id, serial, "revocation row with a serial that is not hex");
                    (id, None)
                }
            })
            .collect())
    }
}
