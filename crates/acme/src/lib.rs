//! The ACME front end (RFC 8555; SPEC §9): what certbot, lego, Caddy, cert-manager and
//! instant-acme speak. It authenticates requests by JWS, keeps accounts, orders, authorizations
//! and challenges in the store, validates control of identifiers, and gets certificates from the
//! authority exactly as REST does ([`vcc_pki_authority::Authority::issue_for_order`]).
//!
//! Mounted by the server under `/acme/` on its HTTPS listener ([`router`]).
mod account;
mod directory;
mod dns;
mod eab;
mod jws;
mod limits;
mod nonce;
mod order;
mod problem;
mod profiles;
mod renewal_info;
mod request;
mod resources;
mod revoke;
mod sweeper;
pub mod telemetry;
mod tls_alpn;
mod validate;

pub use directory::Directory;
pub use jws::{thumbprint, Jws, ALGORITHMS};
pub use limits::RateLimits;
pub use nonce::{NonceError, Nonces, NONCE_LIFETIME};
pub use problem::{AcmeErrorType, AcmeProblem};
pub use profiles::{AcmeProfile, ProfileSettings, DEFAULT_PROFILE};
pub use renewal_info::suggested_window;
pub use validate::Validator;

use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use vcc_pki_authority::Authority;
use vcc_pki_store::{Store, StoreError};

/// `[acme]` of the server's configuration (SPEC §9).
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// Port http-01 validation connects to (80; tests use another).
    pub http_port: u16,
    /// Port tls-alpn-01 validation connects to (443; tests use another).
    pub tls_port: u16,
    /// How long a new order (and its new authorizations) may stay unfinished.
    pub order_lifetime: time::Duration,
    /// How long a valid authorization is reused for new orders of the same account.
    pub authorization_reuse: time::Duration,
    /// Validity of certificates of the `classic` profile.
    pub validity_days: u32,
    /// `meta.website` of the directory.
    pub website: Option<String>,
    /// `meta.termsOfService` of the directory; when set, newAccount must agree to it.
    pub terms_of_service: Option<String>,
    /// `meta.caaIdentities` of the directory.
    pub caa_identities: Vec<String>,
    /// Longest a challenge validation may take.
    pub validation_timeout: Duration,
    /// DNS suffixes ACME may issue for (empty, and `allow_ip` empty: every name that validates).
    pub allow_dns: Vec<String>,
    /// IP ranges (ADDR/PREFIX) ACME may issue for.
    pub allow_ip: Vec<String>,
    pub rate_limits: RateLimits,
    /// newAccount must carry an External Account Binding (`--acme-eab-required`).
    pub eab_required: bool,
    /// The DNS server validation asks (`--acme-dns-resolver HOST:PORT`); None: the system's.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Wildcard identifiers (`*.example.com`, validated over dns-01 only) are issued
    /// (`--acme-allow-wildcards`); off by default.
    pub allow_wildcards: bool,
    /// `[acme.profiles.NAME]`: profiles added to, or replacing, the built-in ones.
    pub profiles: Vec<(String, ProfileSettings)>,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            http_port: 80,
            tls_port: 443,
            order_lifetime: time::Duration::days(7),
            authorization_reuse: time::Duration::days(30),
            validity_days: vcc_pki_core::profile::validity::LEAF_DEFAULT_DAYS,
            website: None,
            terms_of_service: None,
            caa_identities: Vec::new(),
            validation_timeout: Duration::from_secs(10),
            dns_resolver: None,
            eab_required: false,
            allow_dns: Vec::new(),
            allow_ip: Vec::new(),
            rate_limits: RateLimits::default(),
            allow_wildcards: false,
            profiles: Vec::new(),
        }
    }
}

/// Why the ACME front end could not start.
#[derive(Debug, thiserror::Error)]
pub enum AcmeStartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ACME validation resolver: {0}")]
    Resolver(String),
    #[error("{0}")]
    Profile(String),
}

/// Everything the ACME handlers share.
pub struct Acme {
    pub(crate) store: Store,
    pub(crate) authority: Arc<Authority>,
    pub(crate) nonces: Nonces,
    pub(crate) config: AcmeConfig,
    pub(crate) validator: Validator,
    pub(crate) profiles: Vec<AcmeProfile>,
}

impl Acme {
    pub async fn new(
        store: Store,
        authority: Arc<Authority>,
        config: AcmeConfig,
    ) -> Result<Arc<Self>, AcmeStartError> {
        let nonces = Nonces::load(store.clone()).await?;
        let validator = Validator::new(&config).map_err(AcmeStartError::Resolver)?;
        let profiles = AcmeProfile::offered(config.validity_days, &config.profiles)
            .map_err(AcmeStartError::Profile)?;
        Ok(Arc::new(Self {
            profiles,
            store,
            authority,
            nonces,
            config,
            validator,
        }))
    }

    /// The profile named `name`, if offered.
    pub fn profile(&self, name: &str) -> Option<&AcmeProfile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn nonces(&self) -> &Nonces {
        &self.nonces
    }

    /// Forget used nonces past their expiry, hourly, while `acme` lives.
    pub fn start_nonce_purger(acme: &Arc<Self>) {
        let weak = Arc::downgrade(acme);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let Some(acme) = weak.upgrade() else { return };
                if let Err(e) = acme.nonces.purge(acme.authority.now()).await {
                    tracing::warn!(error = %e, "could not purge used ACME nonces");
                }
            }
        });
    }
}

/// The `/acme` routes, with `Replay-Nonce` and `Link rel="index"` on every response, for
/// merging into the server's router (any state; an unknown `/acme/…` path is answered here).
pub fn router<S: Clone + Send + Sync + 'static>(acme: Arc<Acme>) -> Router<S> {
    Router::new()
        .route("/acme/directory", get(directory::directory))
        .route(
            "/acme/new-nonce",
            get(directory::new_nonce_get).head(directory::new_nonce_head),
        )
        .route("/acme/new-account", post(account::new_account))
        .route("/acme/account/{id}", post(account::account))
        .route("/acme/account/{id}/orders", post(account::orders))
        .route("/acme/new-order", post(order::new_order))
        .route("/acme/order/{id}", post(order::order).get(order::order_get))
        .route("/acme/order/{id}/finalize", post(order::finalize))
        .route("/acme/authz/{id}", post(order::authorization))
        .route("/acme/chall/{id}", post(order::challenge))
        .route(
            "/acme/cert/{serial}",
            post(order::certificate).get(order::certificate_get),
        )
        .route("/acme/revoke-cert", post(revoke::revoke_cert))
        .route("/acme/key-change", post(account::key_change))
        .route(
            "/acme/renewal-info/{cert_id}",
            get(renewal_info::renewal_info),
        )
        .route("/acme/{*unknown}", axum::routing::any(unknown_resource))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            acme.clone(),
            nonce_and_index,
        ))
        .with_state(acme)
}

async fn unknown_resource() -> AcmeProblem {
    AcmeProblem::not_found("ACME resource")
}

async fn method_not_allowed() -> AcmeProblem {
    AcmeProblem::malformed("method not allowed for this ACME resource; use POST (or POST-as-GET)")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

async fn nonce_and_index(
    axum::extract::State(acme): axum::extract::State<Arc<Acme>>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let base = request::base_url(request.headers(), request.uri());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(nonce) = HeaderValue::from_str(&acme.nonces.fresh(acme.authority.now())) {
        headers.insert("replay-nonce", nonce);
    }
    if let Ok(base) = base {
        if let Ok(link) = HeaderValue::from_str(&format!("<{base}/acme/directory>;rel=\"index\"")) {
            headers.append(header::LINK, link);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON resource with its status and optional `Location`.
pub(crate) fn json_response(
    status: StatusCode,
    location: Option<&str>,
    body: &serde_json::Value,
) -> Response {
    let mut response = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// A random id for a resource (128 bits, base64url).
pub(crate) fn new_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}
