//! Request bodies and query parameters.
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// `POST /api/ca/root`, `POST /api/ca/intermediate`.
/// No `Debug`: it may carry the CA password.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaCreateRequest {
    pub common_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384 or ed25519 (default: rsa-4096 root,
    /// rsa-2048 intermediate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub validity_years: Option<u32>,
    /// Encrypts the CA key; else the server's configured CA password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub password: Option<Zeroizing<String>>,
    /// Make the key inside a PKCS#11 token instead of encrypting it into the store: an RFC 7512
    /// URI naming the token, the key's label, the module and a PIN source, e.g.
    /// `pkcs11:token=vcc-ca;object=intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin`.
    /// The PIN is read by the server from that file or `env:NAME`; a `pin-value` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_uri: Option<String>,
}

/// `POST /api/ca/unlock`.
/// No `Debug`: it carries the CA password.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub password: Zeroizing<String>,
}

/// `POST /api/certificates/issue`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    pub service_id: String,
    pub common_name: String,
    #[serde(default)]
    pub san_dns: Vec<String>,
    #[serde(default)]
    pub san_ip: Vec<String>,
    /// The subject's own key; without it the server makes one and returns it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_pem: Option<String>,
    /// For a server-made key only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 825))]
    pub validity_days: Option<u32>,
    /// server, client or server_client (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// `POST /api/certificates/renew` (over mTLS the body may be empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// A rekey: the new key's CSR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 825))]
    pub validity_days: Option<u32>,
}

/// `POST /api/certificates/revoke`: a serial, or every unexpired certificate of a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// An RFC 5280 reason name (default unspecified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/services/register` (an admin registers; a service updates its own entry).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub service_id: String,
    pub service_name: String,
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub allowed_dns: Vec<String>,
    #[serde(default)]
    pub allowed_ip: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Lifetime of the enrollment token, hours (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 720))]
    pub enrollment_ttl_hours: Option<u32>,
}

/// `POST /api/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
    /// `admin` (the default) or `auditor` (read-only: every read, no change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Query of `GET /api/certificates`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CertificateListQuery {
    /// active, expiring, expired or revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The profile the certificate was issued under (server, client, tlsserver, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Search: an exact name (CN, DNS or IP SAN, any case), a serial prefix (6+ hex digits) or a
    /// SHA-256 fingerprint prefix (16+ hex digits); colons are ignored. Newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Valid certificates that expire within this many days, soonest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 36600))]
    pub expires_within_days: Option<i64>,
    /// `newest` (default) or `expiry` (soonest first). `status=expired` lists the most recently
    /// expired first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// Page size (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Query of `GET /api/services`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ServiceListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `POST /api/acme/renewal-windows/move`: pull the ACME renewal windows (RFC 9773) of chosen
/// certificates to now. Exactly one of `serial_numbers`, `service_id`, `issued_before`, `all`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenewalWindowMoveRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// RFC 3339: certificates whose notBefore is earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Shown to ARI clients as `explanationURL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_url: Option<String>,
}

/// `POST /api/acme/eab`: a new External Account Binding key for ACME (SPEC §9).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EabKeyCreateRequest {
    /// DNS suffixes the key's accounts may order (none: any name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_dns: Vec<String>,
    /// IP ranges (ADDR/PREFIX) the key's accounts may order (none: any address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ip: Vec<String>,
    /// ACME profiles the key's accounts may order (none: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Usable for more than one account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reusable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub expires_in_seconds: Option<i64>,
}

/// `GET /api/acme/accounts` and `GET /api/acme/orders`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct AcmeListQuery {
    /// Orders of this account only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// At most this many, newest first (1–1000, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `POST /api/ca/intermediate/import`: the issuing CA's certificate signed by an offline root.
/// No `Debug`: it may carry the CA password.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntermediateImportRequest {
    /// PEM: the intermediate certificate, followed by the root's when this server has no root yet
    /// (what `vcc-pki ceremony sign` writes).
    pub certificate_pem: String,
    /// The CA password that opens the pending key, when the server was started without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub password: Option<Zeroizing<String>>,
}
