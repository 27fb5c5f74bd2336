//! Who asks the authority for something. A front end authenticates (bearer token, mTLS, later an
//! ACME account key or a dashboard session) and hands the authority a [`Requester`]; the
//! authority decides what that principal may do (see `policy`).
use vcc_pki_store::{AuditEntry, AuditOutcome, CertificateRecord, Store};

use crate::AuthorityError;

/// The authenticated identity behind a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An admin token.
    Admin,
    /// An auditor token: reads everything an admin reads, changes nothing (SPEC §11).
    Auditor,
    /// A one-time enrollment token, by its hash; checked against the service at use.
    Enrollment { token_hash: String },
    /// A service presenting a certificate this CA issued, byte-identical to the stored one,
    /// neither revoked nor expired (it may be superseded by a renewal: see `policy`).
    Service { certificate: Box<CertificateRecord> },
    /// An ACME account, authenticated by a JWS signed with its key (crate vcc-pki-acme). It gets
    /// certificates only by finalizing its own orders ([`crate::Authority::issue_for_order`]).
    AcmeAccount { account_id: String },
    /// A request signed by a certificate's own key (ACME revokeCert, RFC 8555 §7.6), by the
    /// key's RFC 7638 thumbprint.
    AcmeKey { thumbprint: String },
    /// The server itself (its own TLS and OCSP certificates, scheduled work).
    System,
    /// Nobody: no credentials, or credentials that matched nothing.
    Anonymous,
}

impl Principal {
    /// What kind of principal this is, without who (request logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Admin => "admin",
            Principal::Auditor => "auditor",
            Principal::Enrollment { .. } => "enrollment",
            Principal::Service { .. } => "service",
            Principal::AcmeAccount { .. } => "acme_account",
            Principal::AcmeKey { .. } => "acme_key",
            Principal::System => "system",
            Principal::Anonymous => "anonymous",
        }
    }

    /// The audit log's actor column.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin => "admin".into(),
            Principal::Auditor => "auditor".into(),
            Principal::Enrollment { .. } => "enrollment-token".into(),
            Principal::Service { certificate } => format!("service:{}", certificate.service_id),
            Principal::AcmeAccount { account_id } => format!("acme:{account_id}"),
            Principal::AcmeKey { thumbprint } => format!("acme-key:{thumbprint}"),
            Principal::System => "system".into(),
            Principal::Anonymous => "anonymous".into(),
        }
    }
}

/// A principal plus where its request came from.
#[derive(Debug, Clone)]
pub struct Requester {
    pub principal: Principal,
    pub source_ip: Option<String>,
    /// A bearer token was presented but matched nothing (the refusal says so).
    pub bad_token: bool,
}

impl Requester {
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            source_ip: None,
            bad_token: false,
        }
    }

    pub fn system() -> Self {
        Self::new(Principal::System)
    }

    pub fn audit(&self, action: &str, target_type: &str) -> AuditEntry {
        AuditEntry::new(self.principal.actor(), action, target_type).source(self.source_ip.clone())
    }

    /// Refuse, writing the audit row first.
    pub async fn deny(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
        error: AuthorityError,
    ) -> AuthorityError {
        let status = match &error {
            AuthorityError::Unauthenticated(_) => 401,
            _ => 403,
        };
        let mut entry = self
            .audit(action, "authorization")
            .outcome(AuditOutcome::Denied)
            .details(serde_json::json!({ "status": status, "reason": error.to_string() }));
        // Bounded: a refused request must not be able to write arbitrary amounts into the audit log.
        entry.target_id = target.map(|t| t.chars().take(128).collect());
        if let Err(e) = store.audit_refusal(entry).await {
            tracing::error!(error = %e, "could not write audit row for a refusal");
        }
        error
    }

    /// Require an admin; otherwise unauthenticated (no or bad credentials) or forbidden (an
    /// auditor's token is read-only).
    pub async fn require_admin(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
    ) -> Result<(), AuthorityError> {
        self.require(store, action, target, false).await
    }

    /// Require an admin or an auditor: the admin reads (lists, audit verification).
    pub async fn require_reader(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
    ) -> Result<(), AuthorityError> {
        self.require(store, action, target, true).await
    }

    async fn require(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
        read: bool,
    ) -> Result<(), AuthorityError> {
        match &self.principal {
            // The server itself (never a request's principal: no credential maps to it).
            Principal::Admin | Principal::System => Ok(()),
            Principal::Auditor if read => Ok(()),
            Principal::Auditor => Err(self.deny(store, action, target, read_only()).await),
            Principal::Anonymous => {
                let detail = if self.bad_token {
                    "the bearer token is not valid"
                } else {
                    "this operation needs an admin token (Authorization: Bearer …)"
                };
                Err(self
                    .deny(
                        store,
                        action,
                        target,
                        AuthorityError::unauthenticated(detail),
                    )
                    .await)
            }
            _ => Err(self
                .deny(
                    store,
                    action,
                    target,
                    AuthorityError::forbidden("this operation is for admins only"),
                )
                .await),
        }
    }
}

/// The refusal of every change asked with an auditor's token.
pub(crate) fn read_only() -> AuthorityError {
    AuthorityError::forbidden("an auditor token is read-only: this change needs an admin token")
}
