//! Certificate search and filters, CSV export, the decoded certificate, PEM download, and
//! revocation with the CRL number that then lists it.
use super::pages::audit_table;
use super::session::UiSession;
use super::{page, when, UiError, UiResult};
use crate::api::certificate_filter;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Html;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::time::Duration;
use vcc_pki_authority::{is_acme_service_id, RevokeRequest};
use vcc_pki_core::{RevocationReason, Serial};
use vcc_pki_proto::CertificateListQuery;
use vcc_pki_store::{CertificateRecord, CertificateStatus};

/// Rows a CSV export holds at most.
const CSV_MAX_ROWS: usize = 10_000;
/// How long a revocation waits for the CRL that lists it before showing the page anyway.
const CRL_WAIT: Duration = Duration::from_secs(10);

/// The list's form fields, as typed (empty fields are absent filters).
#[derive(serde::Deserialize, Default, Clone)]
pub struct ListForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    expires_within_days: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    cursor: String,
}

impl ListForm {
    fn query(&self, limit: i64) -> UiResult<CertificateListQuery> {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let days = opt(&self.expires_within_days)
            .map(|d| {
                d.parse::<i64>()
                    .map_err(|_| UiError::bad_request(format!("'{d}' is not a number of days")))
            })
            .transpose()?;
        Ok(CertificateListQuery {
            status: opt(&self.status),
            service_id: opt(&self.service_id),
            profile: opt(&self.profile),
            q: opt(&self.q),
            expires_within_days: days,
            sort: opt(&self.sort),
            limit: Some(limit),
            cursor: opt(&self.cursor),
        })
    }

    /// The query string of this filter on another page (or as CSV).
    fn with_cursor(&self, cursor: &str) -> String {
        let mut f = self.clone();
        f.cursor = cursor.to_string();
        serde_urlencoded_pairs(&[
            ("q", &f.q),
            ("status", &f.status),
            ("profile", &f.profile),
            ("service_id", &f.service_id),
            ("expires_within_days", &f.expires_within_days),
            ("sort", &f.sort),
            ("cursor", &f.cursor),
        ])
    }
}

fn serde_urlencoded_pairs(pairs: &[(&str, &String)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encode a query value.
pub(super) fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn find(
    state: &AppState,
    form: &ListForm,
    limit: i64,
) -> UiResult<vcc_pki_store::CertificatePage> {
    let filter =
        certificate_filter(&form.query(limit)?).map_err(|e| UiError::bad_request(e.detail))?;
    Ok(state.store.list_certificates(&filter).await?)
}

pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    Query(form): Query<ListForm>,
) -> UiResult<Html<String>> {
    session
        .requester
        .require_reader(&state.store, "certificate.list", None)
        .await?;
    let page_of = find(&state, &form, 50).await?;
    let selected = |v: &str, current: &str| v == current;
    Ok(page(
        "Certificates",
        Some(&session),
        html! {
            h1 { "Certificates" }
            form.filters method="get" action="/ui/certificates" role="search" {
                label for="q" { "Search (name, serial, fingerprint)"
                    input #q type="search" name="q" value=(form.q) placeholder="api.example.internal"; }
                label for="status" { "Status"
                    select #status name="status" {
                        @for (v, l) in [("", "any"), ("active", "valid"), ("expiring", "expiring (30 days)"), ("expired", "expired"), ("revoked", "revoked")] {
                            option value=(v) selected[selected(v, &form.status)] { (l) }
                        }
                    } }
                label for="profile" { "Profile" input #profile name="profile" value=(form.profile) size="10"; }
                label for="service_id" { "Service" input #service_id name="service_id" value=(form.service_id) size="14"; }
                label for="expires_within_days" { "Expires within (days)"
                    input #expires_within_days name="expires_within_days" inputmode="numeric" value=(form.expires_within_days) size="4"; }
                label for="sort" { "Sort"
                    select #sort name="sort" {
                        option value="newest" selected[selected("newest", &form.sort)] { "newest first" }
                        option value="expiry" selected[selected("expiry", &form.sort)] { "expiry, soonest first" }
                    } }
                button type="submit" { "Apply" }
            }
            p { a href={ "/ui/certificates.csv?" (form.with_cursor("")) } { "Export these as CSV" } }
            (certificate_table(&page_of.items))
            @if page_of.items.is_empty() { p.notice { "No certificate matches." } }
            @if let Some(next) = &page_of.next_cursor {
                p { a rel="next" href={ "/ui/certificates?" (form.with_cursor(&next.to_token())) } { "Next page" } }
            }
        },
    ))
}

fn certificate_table(items: &[CertificateRecord]) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr { th { "Common name" } th { "Names" } th { "Service" } th { "Profile" } th { "Expires" } th { "Status" } th { "Serial" } } }
            tbody { @for c in items { tr {
                td { a href={ "/ui/certificates/" (c.serial_number.to_hex()) } { (display_cn(c)) } }
                td { (c.san_dns.iter().chain(c.san_ip.iter()).cloned().collect::<Vec<_>>().join(", ")) }
                td.mono { (c.service_id) }
                td { (c.profile) }
                td { (when(c.not_after)) }
                td { span class={ "status-" (c.status.as_str()) } { (c.status.as_str()) } }
                td.mono { (c.serial_number.to_hex()) }
            } } }
        } }
    }
}

fn display_cn(c: &CertificateRecord) -> String {
    if c.common_name.is_empty() {
        c.san_dns
            .first()
            .or(c.san_ip.first())
            .cloned()
            .unwrap_or_else(|| "(no name)".into())
    } else {
        c.common_name.clone()
    }
}

pub async fn csv(
    State(state): State<AppState>,
    session: UiSession,
    Query(mut form): Query<ListForm>,
) -> UiResult<Response> {
    session
        .requester
        .require_reader(&state.store, "certificate.export", None)
        .await?;
    let mut out = String::from(
        "serial_number,common_name,san_dns,san_ip,service_id,profile,not_before,not_after,status,revoked_at,revocation_reason,fingerprint_sha256\n",
    );
    let mut rows = 0;
    loop {
        let page_of = find(&state, &form, 1000).await?;
        for c in &page_of.items {
            let fields = [
                c.serial_number.to_hex(),
                c.common_name.clone(),
                c.san_dns.join(" "),
                c.san_ip.join(" "),
                c.service_id.clone(),
                c.profile.clone(),
                when(c.not_before),
                when(c.not_after),
                c.status.as_str().to_string(),
                c.revoked_at.map(when).unwrap_or_default(),
                c.revocation_reason
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                c.fingerprint_sha256.clone(),
            ];
            out.push_str(
                &fields
                    .iter()
                    .map(|f| csv_field(f))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
            rows += 1;
        }
        match page_of.next_cursor {
            Some(next) if rows < CSV_MAX_ROWS => form.cursor = next.to_token(),
            _ => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"certificates.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// One CSV field (RFC 4180), with a leading formula character neutralised for spreadsheets.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

async fn certificate(state: &AppState, serial: &str) -> UiResult<CertificateRecord> {
    let parsed = Serial::from_hex(serial)
        .ok_or_else(|| UiError::bad_request(format!("'{serial}' is not a serial number")))?;
    state
        .store
        .certificate_by_serial(&parsed)
        .await?
        .ok_or_else(|| {
            UiError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                format!("No certificate has serial {serial}."),
            )
        })
}

#[derive(serde::Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    revoked: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    session: UiSession,
    Path(serial): Path<String>,
    Query(q): Query<DetailQuery>,
) -> UiResult<Html<String>> {
    session
        .requester
        .require_reader(&state.store, "certificate.read", Some(&serial))
        .await?;
    let c = certificate(&state, &serial).await?;
    let serial = c.serial_number.to_hex();
    let listed = if c.status == CertificateStatus::Revoked {
        crl_listing(&state, &c.serial_number).await?
    } else {
        None
    };
    let history = state
        .store
        .audit_page(None, Some(&serial), None, 50)
        .await?;
    let renewal = if is_acme_service_id(&c.service_id) && c.status.is_valid() {
        Some(
            match state.store.renewal_override(&c.serial_number).await? {
                Some(o) => (o.window_start, o.window_end),
                None => vcc_pki_acme::suggested_window(c.not_before, c.not_after),
            },
        )
    } else {
        None
    };
    Ok(page(
        &display_cn(&c),
        Some(&session),
        html! {
            h1 { "Certificate " (display_cn(&c)) }
            @if q.revoked.is_some() {
                p.notice role="status" #revocation-result {
                    @if let Some(n) = listed { "Revoked. CRL number " strong #crl-number { (n) } " now lists serial " code { (serial) } "." }
                    @else { "Revoked. The next CRL will list it (the CRL worker has not published it yet)." }
                }
            }
            dl.fields {
                dt { "Status" } dd { span class={ "status-" (c.status.as_str()) } { (c.status.as_str()) }
                    @if let (Some(at), Some(r)) = (c.revoked_at, c.revocation_reason) { " — " (r.as_str()) " at " (when(at)) } }
                dt { "OCSP" } dd { @if c.status == CertificateStatus::Revoked { "revoked" } @else if c.status == CertificateStatus::Expired { "expired (no longer answered as good)" } @else { "good" } }
                dt { "CRL" } dd { @if let Some(n) = listed { "listed on CRL number " (n) } @else if c.status == CertificateStatus::Revoked { "not yet on a published CRL" } @else { "not listed" } }
                dt { "Serial" } dd.mono { (serial) }
                dt { "Service" } dd { a href={ "/ui/certificates?service_id=" (percent(&c.service_id)) } { (c.service_id) } }
                dt { "Profile" } dd { (c.profile) }
                dt { "Key" } dd { (c.key_type.as_str()) " (" (c.key_source) ")" }
                dt { "SHA-256 fingerprint" } dd.mono { (c.fingerprint_sha256) }
                @if let Some(from) = &c.renewed_from { dt { "Renews" } dd.mono { a href={ "/ui/certificates/" (from.to_hex()) } { (from.to_hex()) } } }
                @if let Some((start, end)) = renewal { dt { "ACME renewal window (ARI)" } dd { (when(start)) " to " (when(end)) } }
            }
            h2 { "Decoded" }
            (decoded(&c.certificate_der))
            p { a href={ "/ui/certificates/" (serial) "/pem" } download={ (serial) ".pem" } { "Download PEM (with chain)" } }
            h2 { "Chain" }
            pre.mono { (state.authority.chain_pem()) }
            @if c.status.is_valid() {
                h2 { "Revoke" }
                @if session.is_admin() {
                    form.stack method="post" action={ "/ui/certificates/" (serial) "/revoke" } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for="reason" { "Reason" }
                        select #reason name="reason" {
                            @for r in RevocationReason::ALL { @if r != RevocationReason::RemoveFromCrl {
                                option value=(r.as_str()) { (r.as_str()) }
                            } }
                        }
                        label { input type="checkbox" name="confirm" value="yes" required;
                            " I understand that revocation cannot be undone and clients will refuse this certificate." }
                        button.danger type="submit" { "Revoke certificate" }
                    }
                } @else { p.hint { "Auditors cannot revoke." } }
            }
            h2 { "Audit history" }
            (audit_table(&history))
        },
    ))
}

/// The number of the newest complete CRL if it lists `serial`.
async fn crl_listing(state: &AppState, serial: &Serial) -> UiResult<Option<i64>> {
    let Some(der) = state.store.latest_crl_der(None).await? else {
        return Ok(None);
    };
    let Ok((_, crl)) = x509_parser::parse_x509_crl(&der) else {
        return Ok(None);
    };
    let listed = crl
        .iter_revoked_certificates()
        .any(|r| r.raw_serial() == serial.as_bytes());
    let number = crl.crl_number().and_then(|n| i64::try_from(n.clone()).ok());
    Ok(if listed { number } else { None })
}

/// The certificate's fields as `openssl x509 -text` shows them.
fn decoded(der: &[u8]) -> Markup {
    use x509_parser::extensions::ParsedExtension;
    if der.is_empty() {
        return html! { p.notice { "Tidied: this certificate expired long ago and its DER was removed by tidy (--tidy-after). Its record and audit history are kept." } };
    }
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return html! { p.notice { "The stored DER does not parse as a certificate." } };
    };
    let tbs = &cert.tbs_certificate;
    html! {
        dl.fields {
            dt { "Version" } dd { (tbs.version.0 + 1) }
            dt { "Subject" } dd { (tbs.subject.to_string()) }
            dt { "Issuer" } dd { (tbs.issuer.to_string()) }
            dt { "Not before" } dd { (tbs.validity.not_before.to_string()) }
            dt { "Not after" } dd { (tbs.validity.not_after.to_string()) }
            dt { "Signature algorithm" } dd.mono { (oid_name(&cert.signature_algorithm.algorithm)) }
            dt { "Public key" } dd.mono { (oid_name(&tbs.subject_pki.algorithm.algorithm)) }
            @for ext in tbs.extensions() {
                dt { (oid_name(&ext.oid)) @if ext.critical { " (critical)" } }
                dd.mono { @match ext.parsed_extension() {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        (san.general_names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))
                    }
                    ParsedExtension::KeyUsage(ku) => { (ku.to_string()) }
                    ParsedExtension::ExtendedKeyUsage(eku) => {
                        (eku_names(eku).join(", "))
                    }
                    ParsedExtension::BasicConstraints(bc) => { "CA:" (bc.ca) @if let Some(p) = bc.path_len_constraint { ", pathlen:" (p) } }
                    ParsedExtension::SubjectKeyIdentifier(k) => { (hex::encode(k.0)) }
                    ParsedExtension::AuthorityKeyIdentifier(k) => { @if let Some(id) = &k.key_identifier { (hex::encode(id.0)) } }
                    ParsedExtension::CRLDistributionPoints(dps) => {
                        @for dp in dps.iter() { @if let Some(x509_parser::extensions::DistributionPointName::FullName(names)) = &dp.distribution_point {
                            (names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")) " "
                        } }
                    }
                    ParsedExtension::AuthorityInfoAccess(aia) => {
                        @for d in aia.iter() { (oid_name(&d.access_method)) ": " (d.access_location.to_string()) " " }
                    }
                    _ => { (hex::encode(ext.value)) }
                } }
            }
        }
    }
}

fn eku_names(eku: &x509_parser::extensions::ExtendedKeyUsage) -> Vec<String> {
    let mut names = Vec::new();
    for (set, name) in [
        (eku.server_auth, "TLS Web Server Authentication"),
        (eku.client_auth, "TLS Web Client Authentication"),
        (eku.code_signing, "Code Signing"),
        (eku.email_protection, "E-mail Protection"),
        (eku.time_stamping, "Time Stamping"),
        (eku.ocsp_signing, "OCSP Signing"),
    ] {
        if set {
            names.push(name.to_string());
        }
    }
    names.extend(eku.other.iter().map(|o| o.to_id_string()));
    names
}

fn oid_name(oid: &x509_parser::der_parser::oid::Oid) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

pub async fn pem(
    State(state): State<AppState>,
    session: UiSession,
    Path(serial): Path<String>,
) -> UiResult<Response> {
    session
        .requester
        .require_reader(&state.store, "certificate.read", Some(&serial))
        .await?;
    let c = certificate(&state, &serial).await?;
    if c.certificate_der.is_empty() {
        return Err(UiError::new(
            StatusCode::GONE,
            "Tidied",
            format!("Certificate {serial} expired long ago and its DER was removed by tidy; its record is kept."),
        ));
    }
    let body = format!(
        "{}{}",
        vcc_pki_core::certificate_pem(&c.certificate_der),
        state.authority.chain_pem()
    );
    let disposition = format!("attachment; filename=\"{}.pem\"", c.serial_number.to_hex());
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[derive(serde::Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    session: UiSession,
    Path(serial): Path<String>,
    form: Result<Form<RevokeForm>, axum::extract::rejection::FormRejection>,
) -> UiResult<Response> {
    let Form(f) = form.map_err(|e| UiError::bad_request(e.body_text()))?;
    session
        .check_csrf(&state, "certificate.revoke", &f.csrf)
        .await?;
    let c = certificate(&state, &serial).await?;
    if f.confirm != "yes" {
        return Err(UiError::bad_request(
            "Tick the confirmation box to revoke: nothing was revoked.",
        ));
    }
    let request = RevokeRequest {
        serial_number: Some(c.serial_number.to_hex()),
        reason: Some(f.reason),
        service_id: None,
    };
    // On a task of its own, as over REST: once queued, a revocation commits with its follow-up.
    let authority = state.authority.clone();
    let requester = session.requester.clone();
    tokio::spawn(async move { authority.revoke(&requester, request).await })
        .await
        .map_err(|e| {
            UiError::from(vcc_pki_authority::AuthorityError::internal(format!(
                "the revocation task failed: {e}"
            )))
        })??;
    // Show the CRL that lists it: the CRL worker publishes within moments.
    let deadline = tokio::time::Instant::now() + CRL_WAIT;
    while crl_listing(&state, &c.serial_number).await?.is_none()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Redirect::to(&format!(
        "/ui/certificates/{}?revoked=1",
        c.serial_number.to_hex()
    ))
    .into_response())
}
