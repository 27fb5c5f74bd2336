//! The service registry and its one-time enrollment tokens (stored as SHA-256 hashes).
use crate::audit::{append, AuditEntry};
use crate::{format_time, json_list, parse_json_list, parse_time, Result, Store, StoreError};
use time::OffsetDateTime;

#[derive(Debug, Clone, Default)]
pub struct NewService {
    pub service_id: String,
    pub service_name: String,
    pub description: Option<String>,
    pub endpoints: Vec<String>,
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub id: i64,
    pub service_id: String,
    pub service_name: String,
    pub description: Option<String>,
    pub endpoints: Vec<String>,
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
    pub enrollment_token_hash: Option<String>,
    pub enrollment_expires_at: Option<OffsetDateTime>,
    pub enrollment_used_at: Option<OffsetDateTime>,
    pub status: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    service_id: String,
    service_name: String,
    description: Option<String>,
    endpoints: String,
    allowed_dns: String,
    allowed_ip: String,
    enrollment_token_hash: Option<String>,
    enrollment_expires_at: Option<String>,
    enrollment_used_at: Option<String>,
    status: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<ServiceRow> for ServiceRecord {
    type Error = StoreError;

    fn try_from(r: ServiceRow) -> Result<Self> {
        let time = |t: Option<String>| t.as_deref().map(parse_time).transpose();
        Ok(Self {
            id: r.id,
            service_id: r.service_id,
            service_name: r.service_name,
            description: r.description,
            endpoints: parse_json_list(&r.endpoints),
            allowed_dns: parse_json_list(&r.allowed_dns),
            allowed_ip: parse_json_list(&r.allowed_ip),
            enrollment_token_hash: r.enrollment_token_hash,
            enrollment_expires_at: time(r.enrollment_expires_at)?,
            enrollment_used_at: time(r.enrollment_used_at)?,
            status: r.status,
            created_at: parse_time(&r.created_at)?,
            updated_at: parse_time(&r.updated_at)?,
        })
    }
}

const SELECT_SERVICE: &str = "SELECT id, service_id, service_name, description, endpoints, allowed_dns, allowed_ip,
    enrollment_token_hash, enrollment_expires_at, enrollment_used_at, status, created_at, updated_at FROM services";

impl Store {
    /// Register (or re-register) a service and set a fresh one-time enrollment token.
    pub async fn register_service(
        &self,
        service: &NewService,
        enrollment_token_hash: &str,
        enrollment_expires_at: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<ServiceRecord> {
        let mut tx = self.begin_write().await?;
        let now = format_time(OffsetDateTime::now_utc());
        sqlx::query(
            "INSERT INTO services (service_id, service_name, description, endpoints, allowed_dns, allowed_ip,
                enrollment_token_hash, enrollment_expires_at, enrollment_used_at, created_at, updated_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,NULL,$9,$9)
             ON CONFLICT(service_id) DO UPDATE SET service_name = $2, description = $3, endpoints = $4,
                allowed_dns = $5, allowed_ip = $6, enrollment_token_hash = $7, enrollment_expires_at = $8,
                enrollment_used_at = NULL, updated_at = $9",
        )
        .bind(&service.service_id)
        .bind(&service.service_name)
        .bind(&service.description)
        .bind(json_list(&service.endpoints))
        .bind(json_list(&service.allowed_dns))
        .bind(json_list(&service.allowed_ip))
        .bind(enrollment_token_hash)
        .bind(format_time(enrollment_expires_at))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(&mut tx, audit).await?;
        let row: ServiceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_SERVICE} WHERE service_id = $1"
        )))
        .bind(&service.service_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn service(&self, service_id: &str) -> Result<Option<ServiceRecord>> {
        let row: Option<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_SERVICE} WHERE service_id = $1"
        )))
        .bind(service_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(ServiceRecord::try_from).transpose()
    }

    /// Services ordered by id, `limit` from after `cursor`.
    pub async fn list_services(
        &self,
        limit: i64,
        cursor: Option<i64>,
    ) -> Result<(Vec<ServiceRecord>, Option<i64>)> {
        let limit = limit.clamp(1, 1000);
        let rows: Vec<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_SERVICE} WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        )))
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(&self.read)
        .await?;
        let mut items: Vec<ServiceRecord> = rows
            .into_iter()
            .map(ServiceRecord::try_from)
            .collect::<Result<_>>()?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|s| s.id)
        } else {
            None
        };
        Ok((items, next))
    }

    /// A service updating its own entry (name, endpoints; never its allowed names).
    pub async fn update_service_entry(
        &self,
        service_id: &str,
        service_name: &str,
        endpoints: &[String],
        description: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<ServiceRecord> {
        let mut tx = self.begin_write().await?;
        let now = format_time(OffsetDateTime::now_utc());
        let done = sqlx::query(
            "UPDATE services SET service_name = $1, endpoints = $2, description = COALESCE($3, description), updated_at = $4
             WHERE service_id = $5",
        )
        .bind(service_name)
        .bind(json_list(endpoints))
        .bind(description)
        .bind(&now)
        .bind(service_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound(format!("service '{service_id}'")));
        }
        append(&mut tx, audit).await?;
        let row: ServiceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_SERVICE} WHERE service_id = $1"
        )))
        .bind(service_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }
}
