//! The OpenAPI document, generated from the handlers' annotations and the wire types of
//! vcc-pki-proto (so it says what the server accepts and answers), and an offline documentation
//! page; both served from the binary.
use axum::http::header;
use axum::response::{Html, IntoResponse};
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VCC PKI",
        description = "A private certificate authority: CA, issuance, renewal, revocation, CRLs, OCSP, service registry. Every error is an RFC 9457 problem document (application/problem+json)."
    ),
    paths(
        super::ca::create_root,
        super::ca::create_intermediate,
        super::ca::request_intermediate,
        super::ca::import_intermediate,
        super::ca::unlock,
        super::ca::info,
        super::ca::bundle,
        super::ca::export,
        super::ca::root_crt,
        super::ca::intermediate_crt,
        super::certificates::issue,
        super::certificates::renew,
        super::certificates::revoke,
        super::certificates::list,
        super::certificates::current,
        super::certificates::generate_crl,
        super::certificates::crl_info,
        super::certificates::crl_der,
        super::certificates::shard_crl_der,
        super::services::register,
        super::services::list,
        super::services::info,
        super::system::health,
        super::system::audit_verify,
        super::system::metrics,
        super::system::healthz,
        super::system::readyz,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::acme::move_renewal_windows,
        super::acme::create_eab_key,
        super::acme::list_eab_keys,
        super::acme::revoke_eab_key,
        super::acme::list_accounts,
        super::acme::list_orders,
        crate::ocsp::post,
        crate::ocsp::get,
        crate::ocsp::get_empty,
        openapi,
        page,
    ),
    components(schemas(vcc_pki_proto::Problem)),
    modifiers(&Security)
)]
struct ApiDoc;

/// Bearer tokens (admin, enrollment) and client certificates (a service's own, over mTLS).
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some("The service's current certificate, issued by this CA".into()),
                deprecated: None,
                extensions: None,
            },
        );
    }
}

/// The document as served (generated once).
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

/// A self-contained page (no CDN) that renders /openapi.json.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "A page rendering this document, offline", body = String, content_type = "text/html")))]
pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
#[path = "docs_tests.rs"]
mod tests;
