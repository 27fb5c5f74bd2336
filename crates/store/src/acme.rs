//! ACME state (SPEC §9): the nonce key and used nonces, accounts, orders, authorizations and
//! challenges. Every state change writes its audit row in the same transaction; the front end
//! (crate vcc-pki-acme) decides what changes, this module only stores it.
use crate::audit::{append, AuditEntry};
use crate::{format_time, parse_json_list, parse_time, Result, Store, StoreError};
use time::OffsetDateTime;

/// What an ACME identifier names: `dns` or `ip` (RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcmeIdentifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct AcmeAccountRecord {
    pub id: String,
    /// RFC 7638 thumbprint of the account key (base64url).
    pub key_thumbprint: String,
    /// The account key as a JWK (JSON text).
    pub jwk: String,
    pub contact: Vec<String>,
    /// valid | deactivated | revoked
    pub status: String,
    pub eab_kid: Option<String>,
    /// The source address of the newAccount request (for the per-address rate limit).
    pub created_from: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct AcmeChallengeRecord {
    pub id: String,
    pub authorization_id: String,
    pub challenge_type: String,
    pub token: String,
    /// pending | processing | valid | invalid
    pub status: String,
    pub validated_at: Option<OffsetDateTime>,
    /// An RFC 8555 problem document (JSON text).
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AcmeAuthorizationRecord {
    pub id: String,
    pub account_id: String,
    pub identifier: AcmeIdentifier,
    pub wildcard: bool,
    /// pending | valid | invalid | deactivated | revoked (an expired one is reported as such by the front end)
    pub status: String,
    pub expires_at: OffsetDateTime,
    pub challenges: Vec<AcmeChallengeRecord>,
}

/// A new authorization with its challenges (all pending).
#[derive(Debug, Clone)]
pub struct NewAcmeAuthorization {
    pub id: String,
    pub identifier: AcmeIdentifier,
    pub wildcard: bool,
    pub expires_at: OffsetDateTime,
    /// (challenge id, type, token)
    pub challenges: Vec<(String, String, String)>,
}

#[derive(Debug, Clone)]
pub struct NewAcmeOrder {
    pub id: String,
    pub account_id: String,
    pub identifiers: Vec<AcmeIdentifier>,
    pub profile: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub replaces: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AcmeOrderRecord {
    pub id: String,
    pub account_id: String,
    /// As stored: pending | processing | valid | invalid. A pending order is ready when all its
    /// authorizations are valid (the front end derives it, as Boulder does).
    pub status: String,
    pub identifiers: Vec<AcmeIdentifier>,
    pub profile: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub error: Option<String>,
    pub certificate_serial: Option<String>,
    pub replaces: Option<String>,
    pub created_at: OffsetDateTime,
    /// In the order the identifiers were given.
    pub authorization_ids: Vec<String>,
}

type AccountRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);
const ACCOUNT_COLUMNS: &str =
    "id, key_thumbprint, jwk, contact, status, eab_kid, created_from, created_at";

impl TryFrom<AccountRow> for AcmeAccountRecord {
    type Error = StoreError;
    fn try_from(
        (id, key_thumbprint, jwk, contact, status, eab_kid, created_from, created_at): AccountRow,
    ) -> Result<Self> {
        Ok(Self {
            id,
            key_thumbprint,
            jwk,
            contact: parse_json_list(&contact),
            status,
            eab_kid,
            created_from,
            created_at: parse_time(&created_at)?,
        })
    }
}

type OrderRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);
const ORDER_COLUMNS: &str = "id, account_id, status, identifiers, profile, not_before, not_after, \
                             expires_at, error, certificate_serial, replaces, created_at";

fn order_from_row(row: OrderRow, authorization_ids: Vec<String>) -> Result<AcmeOrderRecord> {
    let (
        id,
        account_id,
        status,
        identifiers,
        profile,
        not_before,
        not_after,
        expires_at,
        error,
        certificate_serial,
        replaces,
        created_at,
    ) = row;
    Ok(AcmeOrderRecord {
        identifiers: serde_json::from_str(&identifiers)
            .map_err(|e| StoreError::Corrupt(format!("order {id} identifiers: {e}")))?,
        id,
        account_id,
        status,
        profile,
        not_before: not_before.as_deref().map(parse_time).transpose()?,
        not_after: not_after.as_deref().map(parse_time).transpose()?,
        expires_at: parse_time(&expires_at)?,
        error,
        certificate_serial,
        replaces,
        created_at: parse_time(&created_at)?,
        authorization_ids,
    })
}

type ChallengeRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);
const CHALLENGE_COLUMNS: &str =
    "id, authorization_id, challenge_type, token, status, validated_at, error";

impl TryFrom<ChallengeRow> for AcmeChallengeRecord {
    type Error = StoreError;
    fn try_from(
        (id, authorization_id, challenge_type, token, status, validated_at, error): ChallengeRow,
    ) -> Result<Self> {
        Ok(Self {
            id,
            authorization_id,
            challenge_type,
            token,
            status,
            validated_at: validated_at.as_deref().map(parse_time).transpose()?,
            error,
        })
    }
}

type AuthorizationRow = (String, String, String, String, i64, String, String);

/// Which stored state a challenge's validation ends in.
#[derive(Debug, Clone)]
pub enum ChallengeOutcome {
    /// The authorization is valid (and reusable by new orders of the account) until this time.
    Valid { until: OffsetDateTime },
    /// With the problem document (JSON) saying what was tried and found.
    Invalid(String),
}

impl Store {
    /// The secret named `name`, stored as `candidate` if none exists yet: every replica on one
    /// database ends up with the same one.
    pub async fn acme_secret(&self, name: &str, candidate: &str) -> Result<String> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO acme_secrets (name, secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(format_time(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await?;
        let (secret,): (String,) =
            sqlx::query_as("SELECT secret FROM acme_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Mark a nonce used; true if it was not used before (on any replica).
    pub async fn redeem_acme_nonce(&self, nonce: &str, expires_at: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO acme_used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(format_time(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forget used nonces that have expired anyway (their MAC'd expiry refuses them).
    pub async fn purge_acme_nonces(&self, now: OffsetDateTime) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at < $1")
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Store a new account. A key that already has one gets [`StoreError::Conflict`].
    pub async fn insert_acme_account(
        &self,
        account: &AcmeAccountRecord,
        audit: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = format_time(account.created_at);
        let inserted = sqlx::query(
            "INSERT INTO acme_accounts (id, key_thumbprint, jwk, contact, status, eab_kid, created_from, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (key_thumbprint) DO NOTHING",
        )
        .bind(&account.id)
        .bind(&account.key_thumbprint)
        .bind(&account.jwk)
        .bind(crate::json_list(&account.contact))
        .bind(&account.status)
        .bind(&account.eab_kid)
        .bind(&account.created_from)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "an account exists for this key".into(),
            ));
        }
        if let Some(kid) = &account.eab_kid {
            crate::acme_eab::use_eab_key_in(&mut tx, kid).await?;
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn acme_account(&self, id: &str) -> Result<Option<AcmeAccountRecord>> {
        sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(AcmeAccountRecord::try_from)
        .transpose()
    }

    pub async fn acme_account_by_thumbprint(
        &self,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccountRecord>> {
        sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE key_thumbprint = $1"
        )))
        .bind(thumbprint)
        .fetch_optional(&self.read)
        .await?
        .map(AcmeAccountRecord::try_from)
        .transpose()
    }

    /// Change a valid account's contact and/or status; false if it is no longer valid.
    pub async fn update_acme_account(
        &self,
        id: &str,
        contact: Option<&[String]>,
        status: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE acme_accounts SET contact = COALESCE($1, contact), status = COALESCE($2, status),
                    updated_at = $3
             WHERE id = $4 AND status = 'valid'",
        )
        .bind(contact.map(crate::json_list))
        .bind(status)
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if status == Some("deactivated") {
            // RFC 8555 §7.3.6: its pending authorizations go with it.
            sqlx::query(
                "UPDATE acme_authorizations SET status = 'deactivated'
                 WHERE account_id = $1 AND status IN ('pending', 'valid')",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replace a valid account's key (keyChange). [`StoreError::Conflict`] if another account
    /// has the new key.
    pub async fn change_acme_account_key(
        &self,
        id: &str,
        thumbprint: &str,
        jwk: &str,
        audit: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (taken,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM acme_accounts WHERE key_thumbprint = $1")
                .bind(thumbprint)
                .fetch_one(&mut *tx)
                .await?;
        if taken > 0 {
            return Err(StoreError::Conflict("another account has this key".into()));
        }
        let done = sqlx::query(
            "UPDATE acme_accounts SET key_thumbprint = $1, jwk = $2, updated_at = $3
             WHERE id = $4 AND status = 'valid'",
        )
        .bind(thumbprint)
        .bind(jwk)
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound(format!("valid account {id}")));
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A valid, unexpired authorization of `account_id` for `identifier` that a new order may reuse.
    pub async fn acme_reusable_authorization(
        &self,
        account_id: &str,
        identifier: &AcmeIdentifier,
        wildcard: bool,
        valid_until_at_least: OffsetDateTime,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM acme_authorizations
             WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3
               AND status = 'valid' AND expires_at > $4 AND wildcard = $5
             ORDER BY expires_at DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(&identifier.kind)
        .bind(&identifier.value)
        .bind(format_time(valid_until_at_least))
        .bind(i64::from(wildcard))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Store an order with its new authorizations (and links to `reused` ones), in identifier order.
    pub async fn insert_acme_order(
        &self,
        order: &NewAcmeOrder,
        authorizations: &[AuthorizationLink],
        audit: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = format_time(OffsetDateTime::now_utc());
        if let Some(replaces) = &order.replaces {
            // RFC 9773 §5: a certificate is replaced by one order (that did not fail).
            // Taken by an order that has or may still get its certificate: valid, processing, or
            // pending, unexpired and with no failed authorization. A failed or abandoned
            // replacement does not block the next try.
            let (taken,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM acme_orders o WHERE o.replaces = $1
                   AND (o.status IN ('valid', 'processing')
                        OR (o.status = 'pending' AND o.expires_at > $2
                            AND NOT EXISTS (SELECT 1 FROM acme_order_authorizations l
                                            JOIN acme_authorizations a ON a.id = l.authorization_id
                                            WHERE l.order_id = o.id
                                              AND (a.status NOT IN ('pending', 'valid') OR a.expires_at <= $2))))",
            )
            .bind(replaces)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            if taken > 0 {
                return Err(StoreError::Conflict(format!(
                    "certificate {replaces} has already been replaced by another order"
                )));
            }
        }
        let identifiers = serde_json::to_string(&order.identifiers)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO acme_orders (id, account_id, status, identifiers, profile, not_before, not_after,
                                      expires_at, replaces, created_at, updated_at)
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&order.id)
        .bind(&order.account_id)
        .bind(identifiers)
        .bind(&order.profile)
        .bind(order.not_before.map(format_time))
        .bind(order.not_after.map(format_time))
        .bind(format_time(order.expires_at))
        .bind(&order.replaces)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        for (position, link) in authorizations.iter().enumerate() {
            let authorization_id = match link {
                AuthorizationLink::Reuse(id) => id.clone(),
                AuthorizationLink::New(new) => {
                    sqlx::query(
                        "INSERT INTO acme_authorizations (id, account_id, identifier_type, identifier_value,
                                                          wildcard, status, expires_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
                    )
                    .bind(&new.id)
                    .bind(&order.account_id)
                    .bind(&new.identifier.kind)
                    .bind(&new.identifier.value)
                    .bind(i64::from(new.wildcard))
                    .bind(format_time(new.expires_at))
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                    for (id, kind, token) in &new.challenges {
                        sqlx::query(
                            "INSERT INTO acme_challenges (id, authorization_id, challenge_type, token, status)
                             VALUES ($1, $2, $3, $4, 'pending')",
                        )
                        .bind(id)
                        .bind(&new.id)
                        .bind(kind)
                        .bind(token)
                        .execute(&mut *tx)
                        .await?;
                    }
                    new.id.clone()
                }
            };
            sqlx::query(
                "INSERT INTO acme_order_authorizations (order_id, authorization_id, position) VALUES ($1, $2, $3)",
            )
            .bind(&order.id)
            .bind(&authorization_id)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn acme_order(&self, id: &str) -> Result<Option<AcmeOrderRecord>> {
        let Some(row) = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM acme_orders WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let links: Vec<(String,)> = sqlx::query_as(
            "SELECT authorization_id FROM acme_order_authorizations WHERE order_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        order_from_row(row, links.into_iter().map(|(a,)| a).collect()).map(Some)
    }

    /// Order ids of an account, oldest first, after `after` (an order id), at most `limit`.
    pub async fn acme_order_ids(
        &self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM acme_orders WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(account_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    pub async fn acme_authorization(&self, id: &str) -> Result<Option<AcmeAuthorizationRecord>> {
        let Some((id, account_id, kind, value, wildcard, status, expires_at)) = sqlx::query_as::<
            _,
            AuthorizationRow,
        >(
            "SELECT id, account_id, identifier_type, identifier_value, wildcard, status, expires_at
                 FROM acme_authorizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let challenges = sqlx::query_as::<_, ChallengeRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CHALLENGE_COLUMNS} FROM acme_challenges WHERE authorization_id = $1 ORDER BY id"
        )))
        .bind(&id)
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(AcmeChallengeRecord::try_from)
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(AcmeAuthorizationRecord {
            id,
            account_id,
            identifier: AcmeIdentifier { kind, value },
            wildcard: wildcard != 0,
            status,
            expires_at: parse_time(&expires_at)?,
            challenges,
        }))
    }

    /// The authorizations of an order, in identifier order.
    pub async fn acme_order_authorizations(
        &self,
        order: &AcmeOrderRecord,
    ) -> Result<Vec<AcmeAuthorizationRecord>> {
        let mut out = Vec::with_capacity(order.authorization_ids.len());
        for id in &order.authorization_ids {
            if let Some(a) = self.acme_authorization(id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    pub async fn acme_challenge(&self, id: &str) -> Result<Option<AcmeChallengeRecord>> {
        sqlx::query_as::<_, ChallengeRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CHALLENGE_COLUMNS} FROM acme_challenges WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(AcmeChallengeRecord::try_from)
        .transpose()
    }

    /// A client asked for validation: pending → processing, if the authorization is still pending.
    /// False if someone else started it (or it is no longer pending).
    pub async fn start_acme_challenge(&self, id: &str, audit: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE acme_challenges SET status = 'processing', started_at = $2
             WHERE id = $1 AND status = 'pending'
               AND authorization_id IN (SELECT id FROM acme_authorizations WHERE status = 'pending')",
        )
        .bind(id)
        .bind(format_time(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A validation ended: the challenge and its authorization become valid or invalid together.
    pub async fn finish_acme_challenge(
        &self,
        challenge: &AcmeChallengeRecord,
        outcome: &ChallengeOutcome,
        audit: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let now = format_time(OffsetDateTime::now_utc());
        let (status, error, until) = match outcome {
            ChallengeOutcome::Valid { until } => ("valid", None, Some(format_time(*until))),
            ChallengeOutcome::Invalid(problem) => ("invalid", Some(problem.as_str()), None),
        };
        sqlx::query(
            "UPDATE acme_challenges SET status = $1, validated_at = $2, error = $3
             WHERE id = $4 AND status = 'processing'",
        )
        .bind(status)
        .bind(until.is_some().then_some(now.as_str()))
        .bind(error)
        .bind(&challenge.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE acme_authorizations SET status = $1, expires_at = COALESCE($2, expires_at)
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(status)
        .bind(until)
        .bind(&challenge.authorization_id)
        .execute(&mut *tx)
        .await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The client gave up an authorization (RFC 8555 §7.5.2); false if it was not pending or valid.
    pub async fn deactivate_acme_authorization(
        &self,
        id: &str,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE acme_authorizations SET status = 'deactivated'
             WHERE id = $1 AND status IN ('pending', 'valid')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Finalize begins: a pending order whose authorizations are all valid becomes processing.
    /// False if it was finalized meanwhile (or is not pending).
    pub async fn begin_acme_finalize(&self, order_id: &str, audit: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE acme_orders SET status = 'processing', updated_at = $1
             WHERE id = $2 AND status = 'pending'
               AND NOT EXISTS (SELECT 1 FROM acme_order_authorizations l
                               JOIN acme_authorizations a ON a.id = l.authorization_id
                               WHERE l.order_id = $2 AND a.status <> 'valid')",
        )
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An order failed (finalize refused, issuance failed): invalid, with the problem (JSON).
    pub async fn fail_acme_order(
        &self,
        order_id: &str,
        problem: &str,
        audit: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE acme_orders SET status = 'invalid', error = $1, updated_at = $2
             WHERE id = $3 AND status IN ('pending', 'processing')",
        )
        .bind(problem)
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Listings for an admin (`vcc-pki acme accounts|orders`), newest first.
impl Store {
    pub async fn acme_accounts(&self, limit: i64) -> Result<Vec<AcmeAccountRecord>> {
        sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM acme_accounts ORDER BY created_at DESC, id LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(AcmeAccountRecord::try_from)
        .collect()
    }

    /// Orders (without their authorization ids), of one account or of all.
    pub async fn acme_orders(
        &self,
        account_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AcmeOrderRecord>> {
        let rows = match account_id {
            Some(account) => {
                sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {ORDER_COLUMNS} FROM acme_orders WHERE account_id = $1
                     ORDER BY created_at DESC, id LIMIT $2"
                )))
                .bind(account)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {ORDER_COLUMNS} FROM acme_orders ORDER BY created_at DESC, id LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.into_iter()
            .map(|row| order_from_row(row, Vec::new()))
            .collect()
    }
}

/// What the ACME rate limits count, over the window since `since`.
impl Store {
    /// Accounts made from `source` since then.
    pub async fn acme_accounts_from(&self, source: &str, since: OffsetDateTime) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM acme_accounts WHERE created_from = $1 AND created_at > $2",
        )
        .bind(source)
        .bind(format_time(since))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    /// Orders of `account_id` since then, replacement orders (ARI `replaces`) not counted.
    pub async fn acme_orders_since(&self, account_id: &str, since: OffsetDateTime) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM acme_orders WHERE account_id = $1 AND created_at > $2 AND replaces IS NULL",
        )
        .bind(account_id)
        .bind(format_time(since))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    /// Authorizations of `account_id` made since then whose validation failed.
    pub async fn acme_failed_validations_since(
        &self,
        account_id: &str,
        since: OffsetDateTime,
    ) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM acme_authorizations WHERE account_id = $1 AND status = 'invalid' AND created_at > $2",
        )
        .bind(account_id)
        .bind(format_time(since))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }
}

/// An order's authorization: a new one, or a valid one of the same account reused.
#[derive(Debug, Clone)]
pub enum AuthorizationLink {
    New(NewAcmeAuthorization),
    Reuse(String),
}

/// Inside the issuing transaction: the processing order becomes valid with this certificate.
pub(crate) async fn complete_order_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    order: &(String, String),
    serial_hex: &str,
) -> Result<()> {
    let (account_id, order_id) = order;
    let done = sqlx::query(
        "UPDATE acme_orders SET status = 'valid', certificate_serial = $1, updated_at = $2
         WHERE id = $3 AND account_id = $4 AND status = 'processing'",
    )
    .bind(serial_hex)
    .bind(format_time(OffsetDateTime::now_utc()))
    .bind(order_id)
    .bind(account_id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Refused(crate::Refusal::OrderNotProcessing));
    }
    Ok(())
}
