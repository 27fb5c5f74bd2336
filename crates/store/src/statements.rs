//! The one statement set of each write that has more than one path (an issuance, a revocation and
//! the audit row each carries): the columns, the SQL and the values of each row, written once and
//! bound by both drivers (sqlx for either backend, rusqlite for SQLite's group commit). A column
//! added here reaches every write path, or none compiles.
use crate::audit::ChainedRow;
use crate::certificates::{Revocation, RevocationTarget, RevokedRecord};
use crate::services::NewService;
use crate::{format_time, json_list, NewCertificate};
use std::borrow::Cow;
use time::OffsetDateTime;
use vcc_pki_core::Serial;

/// Columns of a new `certificates` row, in the order of [`certificate_row`].
pub(crate) const CERTIFICATE_COLUMNS: &str = "serial_number, service_id, common_name, san_dns, san_ip, \
     profile, key_type, key_source, public_key_sha256, fingerprint_sha256, certificate_der, issuer_ca_id, \
     not_before, not_after, renewed_from, created_at, crl_shard";
pub(crate) const CERTIFICATE_WIDTH: usize = 17;

/// Columns of a new `certificate_rotation_schedule` row, in the order of [`schedule_row`].
pub(crate) const SCHEDULE_COLUMNS: &str = "certificate_id, service_id, renew_after, updated_at";
pub(crate) const SCHEDULE_WIDTH: usize = 4;

/// The renewed certificate's schedule row is done ($1 now, $2 its serial).
pub(crate) const MARK_RENEWED: &str = "UPDATE certificate_rotation_schedule SET status = 'renewed', updated_at = $1 \
     WHERE status = 'pending' AND certificate_id = (SELECT id FROM certificates WHERE serial_number = $2)";

/// Columns of the service row an issuance creates (admin issues first, registers after), in the
/// order of [`service_row`]; an existing service is left as it is.
pub(crate) const SERVICE_COLUMNS: &str =
    "service_id, service_name, description, endpoints, allowed_dns, allowed_ip, created_at, updated_at";
pub(crate) const SERVICE_WIDTH: usize = 8;

/// `INSERT INTO services (…) VALUES <placeholders> ON CONFLICT DO NOTHING`.
pub(crate) fn insert_services(placeholders: &str) -> String {
    format!(
        "INSERT INTO services ({SERVICE_COLUMNS}) VALUES {placeholders} ON CONFLICT(service_id) DO NOTHING"
    )
}

/// The values of a service row, in [`SERVICE_COLUMNS`] order.
pub(crate) fn service_row<'a>(s: &'a NewService, now: &'a str) -> [Param<'a>; SERVICE_WIDTH] {
    use Param::*;
    [
        Text(Cow::Borrowed(&s.service_id)),
        Text(Cow::Borrowed(&s.service_name)),
        OptText(s.description.as_deref()),
        Text(Cow::Owned(json_list(&s.endpoints))),
        Text(Cow::Owned(json_list(&s.allowed_dns))),
        Text(Cow::Owned(json_list(&s.allowed_ip))),
        Text(Cow::Borrowed(now)),
        Text(Cow::Borrowed(now)),
    ]
}

/// `INSERT INTO certificates (…) VALUES <placeholders>`.
pub(crate) fn insert_certificates(placeholders: &str) -> String {
    format!("INSERT INTO certificates ({CERTIFICATE_COLUMNS}) VALUES {placeholders}")
}

/// `INSERT INTO certificate_rotation_schedule (…) VALUES <placeholders>`.
pub(crate) fn insert_schedules(placeholders: &str) -> String {
    format!("INSERT INTO certificate_rotation_schedule ({SCHEDULE_COLUMNS}) VALUES {placeholders}")
}

/// `($1,…,$n)`: one row, numbered placeholders (both backends and rusqlite take them).
pub(crate) fn numbered_row(width: usize) -> String {
    let list: Vec<String> = (1..=width).map(|i| format!("${i}")).collect();
    format!("({})", list.join(","))
}

/// Hash of the audit chain's newest row (none: the chain is empty).
pub(crate) const AUDIT_HEAD: &str = "SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1";

/// Columns of an `audit_log` row, in the order of [`audit_row`].
pub(crate) const AUDIT_COLUMNS: &str =
    "occurred_at, actor, action, target_type, target_id, outcome, \
     details, source_ip, prev_hash, row_hash";
pub(crate) const AUDIT_WIDTH: usize = 10;

/// `INSERT INTO audit_log (…) VALUES <placeholders>`.
pub(crate) fn insert_audit(placeholders: &str) -> String {
    format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {placeholders}")
}

/// The values of a chained audit row, in [`AUDIT_COLUMNS`] order.
pub(crate) fn audit_row<'a>(
    occurred_at: &'a str,
    row: &'a ChainedRow<'a>,
) -> [Param<'a>; AUDIT_WIDTH] {
    use Param::*;
    let e = row.entry;
    [
        Text(Cow::Borrowed(occurred_at)),
        Text(Cow::Borrowed(&e.actor)),
        Text(Cow::Borrowed(&e.action)),
        Text(Cow::Borrowed(&e.target_type)),
        OptText(e.target_id.as_deref()),
        Text(Cow::Borrowed(e.outcome.as_str())),
        Text(Cow::Borrowed(&row.details)),
        OptText(e.source_ip.as_deref()),
        Text(Cow::Borrowed(&row.prev_hash)),
        Text(Cow::Borrowed(&row.hash)),
    ]
}

/// What every revoking `UPDATE … RETURNING` returns, in the order of [`RevocationHit`].
macro_rules! returning_hit {
    () => {
        " RETURNING id, serial_number, service_id, issuer_ca_id, public_key_sha256, crl_shard"
    };
}

/// Revoke one serial if active ($1 serial).
pub(crate) const REVOKE_SERIAL: &str = concat!(
    "UPDATE certificates SET status = 'revoked' WHERE serial_number = $1 AND status = 'active'",
    returning_hit!()
);
/// Revoke a service's active, unexpired certificates ($1 service id, $2 now).
pub(crate) const REVOKE_SERVICE: &str = concat!(
    "UPDATE certificates SET status = 'revoked' WHERE service_id = $1 AND status = 'active' AND not_after > $2",
    returning_hit!()
);
/// Revoke every other active certificate of a compromised key ($1 key hash).
pub(crate) const REVOKE_KEY: &str = concat!(
    "UPDATE certificates SET status = 'revoked' WHERE public_key_sha256 = $1 AND status = 'active'",
    returning_hit!()
);
/// Block a compromised key for future issuance ($1 key hash, $2 now).
pub(crate) const BLOCK_KEY: &str =
    "INSERT INTO compromised_keys (public_key_sha256, revoked_at) VALUES ($1, $2) \
     ON CONFLICT(public_key_sha256) DO NOTHING";
/// The revocation row of one certificate, in the order of [`revocation_row`].
pub(crate) const INSERT_REVOCATION: &str = "INSERT INTO revoked_certificates (certificate_id, \
     serial_number, issuer_ca_id, revoked_at, reason, reason_code, revoked_by, crl_shard) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The revoked certificate's schedule row is done ($1 now, $2 certificate id).
pub(crate) const SCHEDULE_REVOKED: &str =
    "UPDATE certificate_rotation_schedule SET status = 'revoked', \
     updated_at = $1 WHERE certificate_id = $2";

/// A certificate a revoking statement hit (the columns of `returning_hit!`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RevocationHit {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub serial_number: Serial,
    pub service_id: String,
    pub issuer_ca_id: i64,
    pub public_key_sha256: String,
    pub crl_shard: Option<i64>,
}

impl RevocationHit {
    /// Read from a rusqlite row of `returning_hit!`.
    pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            serial_number: {
                let text: String = row.get(1)?;
                Serial::try_from(text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?
            },
            service_id: row.get(2)?,
            issuer_ca_id: row.get(3)?,
            public_key_sha256: row.get(4)?,
            crl_shard: row.get(5)?,
        })
    }

    /// What the caller learns of it.
    pub(crate) fn revoked(self, revocation: &Revocation, now: OffsetDateTime) -> RevokedRecord {
        RevokedRecord {
            serial_number: self.serial_number,
            service_id: self.service_id,
            revoked_at: now,
            reason: revocation.reason,
            crl_shard: self.crl_shard,
        }
    }
}

/// The first revoking statement of a revocation and its values.
pub(crate) fn revoke_target<'a>(
    target: &'a RevocationTarget,
    now: &'a str,
) -> (&'static str, Vec<Param<'a>>) {
    match target {
        RevocationTarget::Serial(serial) => (
            REVOKE_SERIAL,
            vec![Param::Text(Cow::Owned(serial.to_hex()))],
        ),
        RevocationTarget::Service(service_id) => (
            REVOKE_SERVICE,
            vec![
                Param::Text(Cow::Borrowed(service_id)),
                Param::Text(Cow::Borrowed(now)),
            ],
        ),
    }
}

/// Whether the revocation also revokes every certificate of the same key and blocks the key.
pub(crate) fn blocks_key(revocation: &Revocation) -> bool {
    revocation.reason == vcc_pki_core::RevocationReason::KeyCompromise
}

/// The values of [`INSERT_REVOCATION`] for one hit certificate.
pub(crate) fn revocation_row<'a>(
    hit: &'a RevocationHit,
    revocation: &'a Revocation,
    now: &'a str,
) -> [Param<'a>; 8] {
    use Param::*;
    [
        Int(hit.id),
        Text(Cow::Owned(hit.serial_number.to_hex())),
        Int(hit.issuer_ca_id),
        Text(Cow::Borrowed(now)),
        Text(Cow::Borrowed(revocation.reason.as_str())),
        Int(i64::from(revocation.reason.code())),
        Text(Cow::Borrowed(&revocation.revoked_by)),
        OptInt(hit.crl_shard),
    ]
}

/// One bound value, borrowed from the record where it can be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    Text(Cow<'a, str>),
    OptText(Option<&'a str>),
    OptOwnedText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Blob(&'a [u8]),
}

/// The values of a new certificate's row, in [`CERTIFICATE_COLUMNS`] order.
pub(crate) fn certificate_row<'a>(
    c: &'a NewCertificate,
    now: &'a str,
) -> [Param<'a>; CERTIFICATE_WIDTH] {
    use Param::*;
    [
        Text(Cow::Owned(c.serial_number.to_hex())),
        Text(Cow::Borrowed(&c.service_id)),
        Text(Cow::Borrowed(&c.common_name)),
        Text(Cow::Owned(json_list(&c.san_dns))),
        Text(Cow::Owned(json_list(&c.san_ip))),
        Text(Cow::Borrowed(&c.profile)),
        Text(Cow::Borrowed(c.key_type.as_str())),
        Text(Cow::Borrowed(&c.key_source)),
        Text(Cow::Borrowed(&c.public_key_sha256)),
        Text(Cow::Borrowed(&c.fingerprint_sha256)),
        Blob(&c.certificate_der),
        Int(c.issuer_ca_id),
        Text(Cow::Owned(format_time(c.not_before))),
        Text(Cow::Owned(format_time(c.not_after))),
        OptOwnedText(c.renewed_from.as_ref().map(Serial::to_hex)),
        Text(Cow::Borrowed(now)),
        OptInt(c.crl_shard),
    ]
}

/// The values of its rotation schedule row, in [`SCHEDULE_COLUMNS`] order.
pub(crate) fn schedule_row<'a>(
    certificate_id: i64,
    c: &'a NewCertificate,
    now: &'a str,
) -> [Param<'a>; SCHEDULE_WIDTH] {
    use Param::*;
    [
        Int(certificate_id),
        Text(Cow::Borrowed(&c.service_id)),
        Text(Cow::Owned(format_time(c.renew_after))),
        Text(Cow::Borrowed(now)),
    ]
}

/// A sqlx query that takes values: `query` and `query_as` alike.
pub(crate) trait Bind<'q>: Sized {
    fn bind_param(self, param: Param<'q>) -> Self;
}

macro_rules! bind_each {
    ($query:ident, $param:ident) => {
        match $param {
            Param::Text(Cow::Borrowed(s)) => $query.bind(s),
            Param::Text(Cow::Owned(s)) => $query.bind(s),
            Param::OptText(s) => $query.bind(s),
            Param::OptOwnedText(s) => $query.bind(s),
            Param::Int(i) => $query.bind(i),
            Param::OptInt(i) => $query.bind(i),
            Param::Blob(b) => $query.bind(b),
        }
    };
}

impl<'q> Bind<'q> for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    fn bind_param(self, param: Param<'q>) -> Self {
        bind_each!(self, param)
    }
}

impl<'q, O> Bind<'q> for sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    fn bind_param(self, param: Param<'q>) -> Self {
        bind_each!(self, param)
    }
}

/// Bind values to a sqlx query, in order.
pub(crate) fn bind_sqlx<'q, Q: Bind<'q>>(
    query: Q,
    params: impl IntoIterator<Item = Param<'q>>,
) -> Q {
    params.into_iter().fold(query, Q::bind_param)
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::OptText(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::OptOwnedText(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::OptText(None) | Param::OptOwnedText(None) | Param::OptInt(None) => {
                ToSqlOutput::Borrowed(ValueRef::Null)
            }
            Param::Int(i) | Param::OptInt(Some(i)) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Param::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_and_rows_agree() {
        assert_eq!(CERTIFICATE_COLUMNS.split(',').count(), CERTIFICATE_WIDTH);
        assert_eq!(SCHEDULE_COLUMNS.split(',').count(), SCHEDULE_WIDTH);
        assert_eq!(SERVICE_COLUMNS.split(',').count(), SERVICE_WIDTH);
        assert_eq!(AUDIT_COLUMNS.split(',').count(), AUDIT_WIDTH);
        assert_eq!(numbered_row(3), "($1,$2,$3)");
        assert_eq!(
            insert_schedules("(?,?,?,?)"),
            "INSERT INTO certificate_rotation_schedule (certificate_id, service_id, renew_after, updated_at) VALUES (?,?,?,?)"
        );
    }

    /// rusqlite binds by position, and SQLite numbers a `$N` by its first appearance: each
    /// statement must name `$1, $2, …` first in that order, or values land in the wrong columns.
    #[test]
    fn numbered_placeholders_first_appear_in_order() {
        for sql in [
            MARK_RENEWED,
            REVOKE_SERIAL,
            REVOKE_SERVICE,
            REVOKE_KEY,
            BLOCK_KEY,
            INSERT_REVOCATION,
            SCHEDULE_REVOKED,
            &insert_certificates(&numbered_row(CERTIFICATE_WIDTH)),
            &insert_schedules(&numbered_row(SCHEDULE_WIDTH)),
            &insert_services(&numbered_row(SERVICE_WIDTH)),
            &insert_audit(&numbered_row(AUDIT_WIDTH)),
        ] {
            let mut seen: Vec<usize> = Vec::new();
            for part in sql.split('$').skip(1) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                let n: usize = digits.parse().unwrap_or(0);
                if !seen.contains(&n) {
                    seen.push(n);
                }
            }
            let expected: Vec<usize> = (1..=seen.len()).collect();
            assert_eq!(seen, expected, "{sql}");
        }
        assert_eq!(
            REVOKE_KEY.matches("RETURNING id, serial_number").count(),
            1,
            "{REVOKE_KEY}"
        );
    }
}
