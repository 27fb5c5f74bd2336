//! Between the wire (vcc-pki-proto) and the authority's and store's domain types: the REST
//! layer's only translation, field by field.
use vcc_pki_authority as authority;
use vcc_pki_proto as proto;
use vcc_pki_store as store;

/// A time on the wire: RFC 3339, UTC, whole seconds (the store's form).
fn time(t: time::OffsetDateTime) -> String {
    store::format_time(t)
}

pub fn issue_request(r: proto::IssueRequest) -> authority::IssueRequest {
    authority::IssueRequest {
        service_id: r.service_id,
        common_name: r.common_name,
        san_dns: r.san_dns,
        san_ip: r.san_ip,
        csr_pem: r.csr_pem,
        key_type: r.key_type,
        validity_days: r.validity_days,
        profile: r.profile,
    }
}

pub fn renew_request(r: proto::RenewRequest) -> authority::RenewRequest {
    authority::RenewRequest {
        service_id: r.service_id,
        serial_number: r.serial_number,
        csr_pem: r.csr_pem,
        validity_days: r.validity_days,
    }
}

pub fn revoke_request(r: proto::RevokeRequest) -> authority::RevokeRequest {
    authority::RevokeRequest {
        service_id: r.service_id,
        serial_number: r.serial_number,
        reason: r.reason,
    }
}

pub fn ca_create_request(r: proto::CaCreateRequest) -> authority::CaCreateRequest {
    authority::CaCreateRequest {
        common_name: r.common_name,
        country: r.country,
        organization: r.organization,
        key_type: r.key_type,
        validity_years: r.validity_years,
        password: r.password,
        key_uri: r.key_uri,
    }
}

pub fn intermediate_requested(r: authority::IntermediateRequested) -> proto::IntermediateRequested {
    proto::IntermediateRequested {
        csr_pem: r.csr_pem,
        subject: r.subject,
        key_type: r.key_type.as_str().into(),
        public_key_sha256: r.public_key_sha256,
    }
}

pub fn registration(r: proto::RegisterRequest) -> authority::ServiceRegistration {
    authority::ServiceRegistration {
        service_id: r.service_id,
        service_name: r.service_name,
        endpoints: r.endpoints,
        allowed_dns: r.allowed_dns,
        allowed_ip: r.allowed_ip,
        description: r.description,
        enrollment_ttl_hours: r.enrollment_ttl_hours,
    }
}

pub fn issued(c: authority::IssuedCertificate) -> proto::IssuedCertificate {
    proto::IssuedCertificate {
        service_id: c.service_id,
        serial_number: c.serial_number.to_hex(),
        common_name: c.common_name,
        san_dns: c.san_dns,
        san_ip: c.san_ip,
        certificate_pem: c.certificate_pem,
        ca_chain_pem: c.ca_chain_pem,
        private_key_pem: c.private_key_pem,
        not_before: time(c.not_before),
        not_after: time(c.not_after),
        fingerprint_sha256: c.fingerprint_sha256,
        key_type: c.key_type.as_str().into(),
        profile: c.profile,
        renewed_from: c.renewed_from.as_ref().map(vcc_pki_core::Serial::to_hex),
    }
}

pub fn certificate(r: store::CertificateRecord) -> proto::Certificate {
    proto::Certificate {
        // Empty once tidy (`--tidy-after`) dropped the DER of a long-expired certificate.
        certificate_pem: if r.certificate_der.is_empty() {
            String::new()
        } else {
            vcc_pki_core::certificate_pem(&r.certificate_der)
        },
        id: r.id,
        serial_number: r.serial_number.to_hex(),
        service_id: r.service_id,
        common_name: r.common_name,
        san_dns: r.san_dns,
        san_ip: r.san_ip,
        profile: r.profile,
        key_type: r.key_type.as_str().into(),
        key_source: r.key_source,
        public_key_sha256: r.public_key_sha256,
        fingerprint_sha256: r.fingerprint_sha256,
        issuer_ca_id: r.issuer_ca_id,
        not_before: time(r.not_before),
        not_after: time(r.not_after),
        status: r.status.as_str().into(),
        days_until_expiry: r.days_until_expiry,
        renewed_from: r.renewed_from.as_ref().map(vcc_pki_core::Serial::to_hex),
        created_at: time(r.created_at),
        revoked_at: r.revoked_at.map(time),
        revocation_reason: r.revocation_reason.map(|reason| reason.as_str().into()),
    }
}

pub fn revoked(r: authority::RevokeResponse) -> proto::RevokeResponse {
    proto::RevokeResponse {
        revoked: r
            .revoked
            .into_iter()
            .map(|r| proto::RevokedCertificate {
                serial_number: r.serial_number.to_hex(),
                service_id: r.service_id,
                revoked_at: time(r.revoked_at),
                reason: r.reason.as_str().into(),
            })
            .collect(),
        reason: r.reason.as_str().into(),
    }
}

pub fn crl_info(r: authority::CrlInfo) -> proto::CrlInfo {
    proto::CrlInfo {
        crl_number: r.crl_number,
        this_update: time(r.this_update),
        next_update: time(r.next_update),
        revoked_count: r.revoked_count,
        fingerprint_sha256: r.fingerprint_sha256,
        crl_url: r.crl_url,
    }
}

pub fn ca_created(r: authority::CaCreated) -> proto::CaCreated {
    proto::CaCreated {
        level: r.level.to_string(),
        common_name: r.common_name,
        subject: r.subject,
        serial_number: r.serial_number.to_hex(),
        key_type: r.key_type.as_str().into(),
        certificate_pem: r.certificate_pem,
        fingerprint_sha256: r.fingerprint_sha256,
        not_before: time(r.not_before),
        not_after: time(r.not_after),
    }
}

fn ca_summary(r: authority::CaSummary) -> proto::CaSummary {
    proto::CaSummary {
        common_name: r.common_name,
        subject: r.subject,
        serial_number: r.serial_number.to_hex(),
        key_type: r.key_type.as_str().into(),
        fingerprint_sha256: r.fingerprint_sha256,
        not_before: time(r.not_before),
        not_after: time(r.not_after),
        days_until_expiry: r.days_until_expiry,
        certificate_pem: r.certificate_pem,
        key_storage: r.key_storage.into(),
        key_uri: r.key_uri,
    }
}

pub fn ca_info(r: authority::CaInfo) -> proto::CaInfo {
    proto::CaInfo {
        root: r.root.map(ca_summary),
        intermediate: r.intermediate.map(ca_summary),
        sealed: r.sealed,
        sealed_reason: r.sealed_reason,
        chain_status: r.chain_status.to_string(),
    }
}

pub fn exported_ca(r: &store::CaRecord) -> proto::ExportedCa {
    proto::ExportedCa {
        certificate_pem: vcc_pki_core::certificate_pem(&r.certificate_der),
        // A token or offline key has nothing to export: the field is empty (`GET /api/ca/info`
        // says where the key is).
        encrypted_private_key_pem: match &r.key {
            store::CaKey::EncryptedPem(pem) => pem.clone(),
            store::CaKey::Pkcs11Uri(_) | store::CaKey::Offline => String::new(),
        },
        serial_number: r.serial_number.to_hex(),
    }
}

pub fn service(r: store::ServiceRecord) -> proto::Service {
    proto::Service {
        id: r.id,
        service_id: r.service_id,
        service_name: r.service_name,
        description: r.description,
        endpoints: r.endpoints,
        allowed_dns: r.allowed_dns,
        allowed_ip: r.allowed_ip,
        enrollment_expires_at: r.enrollment_expires_at.map(time),
        enrollment_used_at: r.enrollment_used_at.map(time),
        status: r.status,
        created_at: time(r.created_at),
        updated_at: time(r.updated_at),
    }
}

pub fn token(r: store::TokenRecord) -> proto::Token {
    proto::Token {
        id: r.id,
        name: r.name,
        role: r.role,
        created_at: time(r.created_at),
        revoked_at: r.revoked_at.map(time),
    }
}

pub fn audit_verification(
    r: store::AuditVerification,
    anchors: authority::audit_anchor::AnchorCheck,
) -> proto::AuditVerification {
    proto::AuditVerification {
        rows: r.rows,
        intact: r.intact && anchors.failure.is_none(),
        first_broken_id: r.first_broken_id,
        head_hash: r.head_hash,
        anchors_checked: anchors.checked,
        anchored_row: anchors.anchored_row,
        anchor_failure: anchors.failure,
    }
}
