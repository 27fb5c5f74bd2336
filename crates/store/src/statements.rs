//! The one statement set of an issuance: the columns, the SQL and the values of each row, written
//! once and bound by both drivers (sqlx for either backend, rusqlite for SQLite's group commit).
//! A column added here reaches every write path, or none compiles.
use crate::{format_time, json_list, NewCertificate};
use std::borrow::Cow;

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

/// One bound value, borrowed from the record where it can be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    Text(Cow<'a, str>),
    OptText(Option<&'a str>),
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
        Text(Cow::Borrowed(&c.serial_number)),
        Text(Cow::Borrowed(&c.service_id)),
        Text(Cow::Borrowed(&c.common_name)),
        Text(Cow::Owned(json_list(&c.san_dns))),
        Text(Cow::Owned(json_list(&c.san_ip))),
        Text(Cow::Borrowed(&c.profile)),
        Text(Cow::Borrowed(&c.key_type)),
        Text(Cow::Borrowed(&c.key_source)),
        Text(Cow::Borrowed(&c.public_key_sha256)),
        Text(Cow::Borrowed(&c.fingerprint_sha256)),
        Blob(&c.certificate_der),
        Int(c.issuer_ca_id),
        Text(Cow::Owned(format_time(c.not_before))),
        Text(Cow::Owned(format_time(c.not_after))),
        OptText(c.renewed_from.as_deref()),
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

/// Bind values to a sqlx query, in order.
pub(crate) fn bind_sqlx<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    params: impl IntoIterator<Item = Param<'q>>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for param in params {
        query = match param {
            Param::Text(Cow::Borrowed(s)) => query.bind(s),
            Param::Text(Cow::Owned(s)) => query.bind(s),
            Param::OptText(s) => query.bind(s),
            Param::Int(i) => query.bind(i),
            Param::OptInt(i) => query.bind(i),
            Param::Blob(b) => query.bind(b),
        };
    }
    query
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::OptText(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::OptText(None) | Param::OptInt(None) => ToSqlOutput::Borrowed(ValueRef::Null),
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
        assert_eq!(numbered_row(3), "($1,$2,$3)");
        assert_eq!(
            insert_schedules("(?,?,?,?)"),
            "INSERT INTO certificate_rotation_schedule (certificate_id, service_id, renew_after, updated_at) VALUES (?,?,?,?)"
        );
    }
}
