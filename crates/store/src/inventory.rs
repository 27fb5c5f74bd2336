//! The inventory: certificate lists, filters and search that read an index, never a scan, at
//! ten million certificates (SPEC §11; DESIGN "Inventory at scale"). Each filter adds its own
//! predicate — no `($1 IS NULL OR …)`, which defeats the index on SQLite and PostgreSQL — and
//! one access path drives each query: a name, a service, a profile, the revocations, or expiry.
use crate::certificates::{status_times, CertificateRow, SELECT_CERT};
use crate::{format_time, parse_time, CertificateRecord, CertificateStatus, Result, Store};
use time::OffsetDateTime;

/// Filters of `GET /api/certificates` and the dashboard's certificate list.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Active means valid (expiring included).
    pub status: Option<CertificateStatus>,
    pub service_id: Option<String>,
    pub profile: Option<String>,
    /// Valid certificates that expire within this many days (soonest first).
    pub expires_within_days: Option<i64>,
    /// A search term (see [`CertificateSearch`]).
    pub search: Option<CertificateSearch>,
    /// Order by expiry (soonest first) instead of newest first.
    pub by_expiry: bool,
    pub limit: i64,
    pub cursor: Option<CertificateCursor>,
}

/// What a search term can match: the exact name (a CN, DNS or IP SAN, any case), a serial that
/// starts with it (6 hex digits or more), or a fingerprint that starts with it (16 or more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSearch {
    pub name: String,
    pub serial_prefix: Option<String>,
    pub fingerprint_prefix: Option<String>,
}

/// Shortest serial prefix searched for (shorter ones would match too many rows to sort).
pub const MIN_SERIAL_PREFIX: usize = 6;
/// Shortest fingerprint prefix searched for (the index holds the first 16 hex digits).
pub const MIN_FINGERPRINT_PREFIX: usize = 16;

impl CertificateSearch {
    /// `None` for an empty term. Colons and spaces in a pasted serial or fingerprint are ignored.
    pub fn parse(term: &str) -> Option<Self> {
        let term = term.trim();
        if term.is_empty() {
            return None;
        }
        let hex: String = term
            .chars()
            .filter(|c| *c != ':' && *c != ' ')
            .collect::<String>()
            .to_ascii_lowercase();
        let is_hex = hex.chars().all(|c| c.is_ascii_hexdigit());
        Some(Self {
            name: term.to_lowercase(),
            serial_prefix: (is_hex && hex.len() >= MIN_SERIAL_PREFIX && hex.len() <= 40)
                .then(|| hex.clone()),
            fingerprint_prefix: (is_hex && hex.len() >= MIN_FINGERPRINT_PREFIX && hex.len() <= 64)
                .then_some(hex),
        })
    }
}

/// Where a page ends: the last certificate's id and, in expiry order, its `not_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateCursor {
    pub id: i64,
    pub not_after: Option<String>,
}

impl CertificateCursor {
    /// The text form handed to clients (`next_cursor`).
    pub fn to_token(&self) -> String {
        match &self.not_after {
            None => self.id.to_string(),
            Some(t) => format!("{}@{t}", self.id),
        }
    }

    /// `None` for text this server did not hand out.
    pub fn parse(token: &str) -> Option<Self> {
        let (id, not_after) = match token.split_once('@') {
            None => (token, None),
            Some((id, t)) => (id, Some(format_time(parse_time(t).ok()?))),
        };
        Some(Self {
            id: id.parse().ok()?,
            not_after,
        })
    }
}

#[derive(Debug, Clone)]
pub struct CertificatePage {
    pub items: Vec<CertificateRecord>,
    pub next_cursor: Option<CertificateCursor>,
}

/// How a page is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Newest,
    ExpiresSoonest,
    ExpiredLatest,
}

/// One SQL statement being built: its predicates and their bound values, numbered in order
/// after `$1` (now) and `$2` (the end of the expiring window) that SELECT_CERT binds.
struct Query {
    predicates: Vec<String>,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Query {
    fn new() -> Self {
        Self {
            predicates: Vec::new(),
            binds: Vec::new(),
        }
    }

    /// The placeholder of a new bound value.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len() + 2)
    }

    fn and(&mut self, predicate: String) {
        self.predicates.push(predicate);
    }
}

impl Store {
    /// Certificates issued on each of the last `days` days (UTC), oldest first, from the counter
    /// a trigger keeps (migration `inventory`); days without issuance count 0.
    pub async fn issuance_per_day(&self, days: i64) -> Result<Vec<(String, i64)>> {
        let days = days.clamp(1, 366);
        let today = OffsetDateTime::now_utc();
        let day = |t: OffsetDateTime| format_time(t)[..10].to_string();
        let first = day(today - time::Duration::days(days - 1));
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT issued_day, CAST(SUM(n) AS BIGINT) FROM issuance_counts
             WHERE issued_day >= $1 GROUP BY issued_day",
        )
        .bind(&first)
        .fetch_all(&self.read)
        .await?;
        Ok((0..days)
            .rev()
            .map(|back| {
                let d = day(today - time::Duration::days(back));
                let n = rows.iter().find(|(r, _)| *r == d).map_or(0, |(_, n)| *n);
                (d, n)
            })
            .collect())
    }

    pub async fn list_certificates(&self, filter: &CertificateFilter) -> Result<CertificatePage> {
        let limit = filter.limit.clamp(1, 1000);
        let order = order_of(filter);
        let Some(search) = &filter.search else {
            let items = self
                .certificate_page(filter, order, None, limit + 1)
                .await?;
            return Ok(page(items, limit, order));
        };
        // A search is up to three lookups, each through its own index, merged newest first.
        let mut items = self
            .certificate_page(
                filter,
                Order::Newest,
                Some(Lookup::Name(&search.name)),
                limit + 1,
            )
            .await?;
        if let Some(prefix) = &search.serial_prefix {
            items.extend(
                self.certificate_page(
                    filter,
                    Order::Newest,
                    Some(Lookup::Serial(prefix)),
                    limit + 1,
                )
                .await?,
            );
        }
        if let Some(prefix) = &search.fingerprint_prefix {
            items.extend(
                self.certificate_page(
                    filter,
                    Order::Newest,
                    Some(Lookup::Fingerprint(prefix)),
                    limit + 1,
                )
                .await?,
            );
        }
        items.sort_by_key(|c| std::cmp::Reverse(c.id));
        items.dedup_by_key(|c| c.id);
        Ok(page(items, limit, Order::Newest))
    }

    async fn certificate_page(
        &self,
        filter: &CertificateFilter,
        order: Order,
        lookup: Option<Lookup<'_>>,
        fetch: i64,
    ) -> Result<Vec<CertificateRecord>> {
        let mut q = Query::new();
        let mut from = String::new();
        let mut revocations_walk = false;
        // The access path that drives the query comes first.
        let id_column = match lookup {
            Some(Lookup::Name(name)) => {
                from = " JOIN certificate_names n ON n.certificate_id = c.id".into();
                let p = q.bind(Bind::Text(name.to_string()));
                q.and(format!("n.name = {p}"));
                "n.certificate_id"
            }
            Some(Lookup::Serial(prefix)) => {
                let lo = q.bind(Bind::Text(prefix.to_string()));
                let hi = q.bind(Bind::Text(format!("{prefix}g")));
                q.and(format!(
                    "c.serial_number >= {lo} AND c.serial_number < {hi}"
                ));
                "c.id"
            }
            Some(Lookup::Fingerprint(prefix)) => {
                let head = q.bind(Bind::Text(prefix[..MIN_FINGERPRINT_PREFIX].to_string()));
                let like = q.bind(Bind::Text(format!("{prefix}%")));
                q.and(format!(
                    "substr(c.fingerprint_sha256, 1, 16) = {head} AND c.fingerprint_sha256 LIKE {like}"
                ));
                "c.id"
            }
            None if filter.status == Some(CertificateStatus::Revoked)
                && filter.service_id.is_none()
                && filter.profile.is_none()
                && filter.expires_within_days.is_none()
                && order == Order::Newest =>
            {
                // Revocations are few: walk their index, newest certificate first, in a
                // subquery the planner cannot turn into a walk of every certificate.
                let mut inner = String::from("SELECT certificate_id FROM revoked_certificates");
                if let Some(cursor) = &filter.cursor {
                    let p = q.bind(Bind::Int(cursor.id));
                    inner.push_str(&format!(" WHERE certificate_id < {p}"));
                }
                let lim = q.bind(Bind::Int(fetch));
                q.and(format!(
                    "c.id IN ({inner} ORDER BY certificate_id DESC LIMIT {lim})"
                ));
                revocations_walk = true;
                "c.id"
            }
            None => "c.id",
        };
        if let Some(service) = &filter.service_id {
            let p = q.bind(Bind::Text(service.clone()));
            q.and(format!("c.service_id = {p}"));
        }
        if let Some(profile) = &filter.profile {
            let p = q.bind(Bind::Text(profile.clone()));
            q.and(format!("c.profile = {p}"));
        }
        match filter.status {
            None => {}
            Some(CertificateStatus::Active) => {
                q.and("c.status = 'active' AND c.not_after > $1".into())
            }
            Some(CertificateStatus::Expiring) => {
                q.and("c.status = 'active' AND c.not_after > $1 AND c.not_after <= $2".into())
            }
            Some(CertificateStatus::Expired) => {
                q.and("c.status = 'active' AND c.not_after <= $1".into())
            }
            Some(CertificateStatus::Revoked) => q.and("c.status = 'revoked'".into()),
        }
        if let Some(days) = filter.expires_within_days {
            let until = OffsetDateTime::now_utc() + time::Duration::days(days.clamp(0, 36_600));
            let p = q.bind(Bind::Text(format_time(until)));
            q.and(format!(
                "c.status = 'active' AND c.not_after > $1 AND c.not_after <= {p}"
            ));
        }
        let order_by = match order {
            Order::Newest => {
                if let Some(cursor) = filter.cursor.as_ref().filter(|_| !revocations_walk) {
                    let p = q.bind(Bind::Int(cursor.id));
                    q.and(format!("{id_column} < {p}"));
                }
                format!("{id_column} DESC")
            }
            Order::ExpiresSoonest | Order::ExpiredLatest => {
                let (cmp, dir) = if order == Order::ExpiresSoonest {
                    (">", "ASC")
                } else {
                    ("<", "DESC")
                };
                if let Some(cursor) = &filter.cursor {
                    let t = q.bind(Bind::Text(cursor.not_after.clone().unwrap_or_default()));
                    let t2 = q.bind(Bind::Text(cursor.not_after.clone().unwrap_or_default()));
                    let id = q.bind(Bind::Int(cursor.id));
                    q.and(format!(
                        "(c.not_after {cmp} {t} OR (c.not_after = {t2} AND c.id {cmp} {id}))"
                    ));
                }
                format!("c.not_after {dir}, c.id {dir}")
            }
        };
        let limit = q.bind(Bind::Int(fetch));
        let predicates = if q.predicates.is_empty() {
            "1=1".to_string()
        } else {
            q.predicates.join(" AND ")
        };
        let sql =
            format!("{SELECT_CERT}{from} WHERE {predicates} ORDER BY {order_by} LIMIT {limit}");
        let (now, soon) = status_times();
        let mut query = sqlx::query_as::<_, CertificateRow>(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(soon);
        for b in q.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.into_iter().map(CertificateRecord::try_from).collect()
    }
}

#[derive(Clone, Copy)]
enum Lookup<'a> {
    Name(&'a str),
    Serial(&'a str),
    Fingerprint(&'a str),
}

fn order_of(filter: &CertificateFilter) -> Order {
    if filter.search.is_some() {
        Order::Newest
    } else if filter.status == Some(CertificateStatus::Expired) {
        Order::ExpiredLatest
    } else if filter.by_expiry
        || filter.status == Some(CertificateStatus::Expiring)
        || filter.expires_within_days.is_some()
    {
        Order::ExpiresSoonest
    } else {
        Order::Newest
    }
}

/// Cut `items` (one more than `limit` fetched) to a page and its cursor.
fn page(mut items: Vec<CertificateRecord>, limit: i64, order: Order) -> CertificatePage {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|c| CertificateCursor {
            id: c.id,
            not_after: (order != Order::Newest).then(|| format_time(c.not_after)),
        })
    } else {
        None
    };
    CertificatePage { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_term_matches_names_and_long_enough_hex_prefixes() {
        let s = CertificateSearch::parse(" API.Example.TEST ").unwrap();
        assert_eq!(s.name, "api.example.test");
        assert_eq!(s.serial_prefix, None);
        let s = CertificateSearch::parse("4A:1B:2C").unwrap();
        assert_eq!(s.serial_prefix.as_deref(), Some("4a1b2c"));
        assert_eq!(s.fingerprint_prefix, None);
        let s = CertificateSearch::parse("0123456789abcdef01").unwrap();
        assert_eq!(s.fingerprint_prefix.as_deref(), Some("0123456789abcdef01"));
        assert_eq!(CertificateSearch::parse("  "), None);
        assert_eq!(
            CertificateSearch::parse("cafe").unwrap().serial_prefix,
            None
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_foreign_text() {
        let c = CertificateCursor {
            id: 42,
            not_after: Some("2027-01-02T03:04:05Z".into()),
        };
        assert_eq!(CertificateCursor::parse(&c.to_token()), Some(c));
        assert_eq!(CertificateCursor::parse("7").unwrap().id, 7);
        assert_eq!(CertificateCursor::parse("x"), None);
        assert_eq!(CertificateCursor::parse("7@yesterday"), None);
    }
}
