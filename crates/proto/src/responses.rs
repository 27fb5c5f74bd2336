//! Response bodies. Field names are the API's; nullable fields are `Option`s.
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// RFC 9457 problem document (`application/problem+json`), the body of every error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// `urn:vcc-pki:problem:<kind>`, e.g. `urn:vcc-pki:problem:forbidden`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

/// An issued or renewed certificate (`201`).
/// No `Debug`: it carries a secret shown once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedCertificate {
    pub service_id: String,
    pub serial_number: String,
    pub common_name: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub certificate_pem: String,
    /// Intermediate then root.
    pub ca_chain_pem: String,
    /// Only when the server made the key; shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub private_key_pem: Option<Zeroizing<String>>,
    pub not_before: String,
    pub not_after: String,
    pub fingerprint_sha256: String,
    pub key_type: String,
    pub profile: String,
    /// The serial this one renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_from: Option<String>,
}

/// A stored certificate as the inventory endpoints return it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Certificate {
    pub id: i64,
    pub serial_number: String,
    pub service_id: String,
    pub common_name: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub profile: String,
    pub key_type: String,
    /// `csr` (the subject made its key) or `server`.
    pub key_source: String,
    pub public_key_sha256: String,
    pub fingerprint_sha256: String,
    pub issuer_ca_id: i64,
    pub not_before: String,
    pub not_after: String,
    /// active, expiring, expired or revoked.
    pub status: String,
    pub days_until_expiry: i64,
    pub renewed_from: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    pub certificate_pem: String,
}

/// `GET /api/certificates/{service_id}`: the service's current certificate and the CA chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrentCertificate {
    #[serde(flatten)]
    pub certificate: Certificate,
    pub ca_chain_pem: String,
}

/// A page of certificates (keyset pagination).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateList {
    pub items: Vec<Certificate>,
    pub next_cursor: Option<String>,
}

/// One certificate a revocation changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedCertificate {
    pub serial_number: String,
    pub service_id: String,
    pub revoked_at: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeResponse {
    pub revoked: Vec<RevokedCertificate>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrlInfo {
    pub crl_number: i64,
    pub this_update: String,
    pub next_update: String,
    pub revoked_count: i64,
    pub fingerprint_sha256: String,
    /// Path of the complete CRL (DER).
    pub crl_url: String,
}

/// `201` of CA creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaCreated {
    /// root or intermediate.
    pub level: String,
    pub common_name: String,
    pub subject: String,
    pub serial_number: String,
    pub key_type: String,
    pub certificate_pem: String,
    pub fingerprint_sha256: String,
    pub not_before: String,
    pub not_after: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaSummary {
    pub common_name: String,
    pub subject: String,
    pub serial_number: String,
    pub key_type: String,
    pub fingerprint_sha256: String,
    pub not_before: String,
    pub not_after: String,
    pub days_until_expiry: i64,
    pub certificate_pem: String,
    /// "store" (encrypted PKCS#8 in the database), "pkcs11" (inside a token) or "offline" (a root
    /// kept by `vcc-pki ceremony` on another machine).
    #[serde(default)]
    pub key_storage: String,
    /// The token key's RFC 7512 URI when `key_storage` is "pkcs11" (it names a PIN source, never a PIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_uri: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaInfo {
    pub root: Option<CaSummary>,
    pub intermediate: Option<CaSummary>,
    /// A CA exists but its keys are locked.
    pub sealed: bool,
    /// Why the keys are locked when the server could not open them (a token missing, a PIN refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_reason: Option<String>,
    /// complete, no-root, no-intermediate or broken.
    pub chain_status: String,
}

/// One CA of `GET /api/ca/export`: its certificate and its key, encrypted (PKCS#8 PBES2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedCa {
    pub certificate_pem: String,
    pub encrypted_private_key_pem: String,
    pub serial_number: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaExport {
    pub root: ExportedCa,
    pub intermediate: Option<ExportedCa>,
    pub ca_chain_pem: String,
}

/// A registered service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    pub id: i64,
    pub service_id: String,
    pub service_name: String,
    pub description: Option<String>,
    pub endpoints: Vec<String>,
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
    pub enrollment_expires_at: Option<String>,
    pub enrollment_used_at: Option<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A registration (`201`, with the one-time enrollment token) or a service's update of its
/// entry (`200`, without).
/// No `Debug`: it carries a secret shown once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registered {
    #[serde(flatten)]
    pub service: Service,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub enrollment_token: Option<Zeroizing<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceList {
    pub items: Vec<Service>,
    pub next_cursor: Option<String>,
}

/// An admin token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    pub items: Vec<Token>,
}

/// `201` of `POST /api/tokens`: the token, shown once.
/// No `Debug`: it carries a secret shown once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCreated {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Zeroizing<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRevoked {
    pub id: i64,
    pub revoked: bool,
}

/// `GET /api/audit/verify`: the hash chain walked from the first row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditVerification {
    pub rows: i64,
    pub intact: bool,
    /// Id of the first row whose hash or link does not match.
    pub first_broken_id: Option<i64>,
    pub head_hash: String,
    /// Anchors (signed heads kept outside the database) checked against the store.
    #[serde(default)]
    pub anchors_checked: usize,
    /// The newest anchored row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored_row: Option<i64>,
    /// Why the store does not match its anchors: rows truncated, or changed and recomputed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_failure: Option<String>,
}

/// `POST /api/acme/renewal-windows/move`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewalWindowMoveResponse {
    /// Active, unexpired certificates whose window now lies in the past.
    pub moved: u64,
}

/// An External Account Binding key (`GET /api/acme/eab`); the HMAC key is shown only at creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EabKeyInfo {
    pub kid: String,
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
    pub profiles: Vec<String>,
    pub reusable: bool,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub used_at: Option<String>,
}

/// `POST /api/acme/eab`: the key's id and its HMAC key (base64url), shown once.
/// No `Debug`: it carries the HMAC key.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EabKeyCreated {
    pub kid: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hmac_key: Zeroizing<String>,
    #[serde(flatten)]
    pub key: EabKeyInfo,
}

/// `GET /api/acme/eab`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EabKeyList {
    pub keys: Vec<EabKeyInfo>,
}

/// An ACME account as an admin sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcmeAccountInfo {
    pub id: String,
    pub status: String,
    pub contact: Vec<String>,
    pub key_thumbprint: String,
    pub eab_kid: Option<String>,
    pub created_from: Option<String>,
    pub created_at: String,
}

/// An ACME order as an admin sees it (status as stored: pending, processing, valid, invalid).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcmeOrderInfo {
    pub id: String,
    pub account_id: String,
    pub status: String,
    /// `type:value` of each identifier.
    pub identifiers: Vec<String>,
    pub profile: String,
    pub certificate_serial: Option<String>,
    pub replaces: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// `GET /api/acme/accounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcmeAccountList {
    pub accounts: Vec<AcmeAccountInfo>,
}

/// `GET /api/acme/orders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcmeOrderList {
    pub orders: Vec<AcmeOrderInfo>,
}

/// `201` of `POST /api/ca/intermediate/csr`: a CSR for a new issuing CA whose key waits on the
/// server until `POST /api/ca/intermediate/import` brings its certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntermediateRequested {
    pub csr_pem: String,
    pub subject: String,
    pub key_type: String,
    /// SHA-256 of the key's SubjectPublicKeyInfo, for the ceremony's witnesses to compare.
    pub public_key_sha256: String,
}
