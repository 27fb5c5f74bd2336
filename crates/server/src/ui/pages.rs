//! Overview, services, tokens, audit and ACME pages.
use super::certificates::percent;
use super::session::UiSession;
use super::{page, when, UiError, UiResult};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use vcc_pki_authority::{ServiceRegistration, TokenRole};

/// Days the overview's issuance chart shows.
const CHART_DAYS: i64 = 30;

pub async fn overview(State(state): State<AppState>, session: UiSession) -> UiResult<Html<String>> {
    session
        .requester
        .require_reader(&state.store, "ui.overview", None)
        .await?;
    let stats = state.store.statistics().await?;
    let info = state.authority.info().await?;
    let crl = state.authority.crl_info().await.ok();
    let days = state.store.issuance_per_day(CHART_DAYS).await?;
    let ocsp = state
        .config
        .public_url
        .as_deref()
        .map(|u| format!("{}/ocsp", u.trim_end_matches('/')));
    let card = |label: &str, n: i64, href: &str| {
        html! { a.card href=(href) { span.n { (n) } (label) } }
    };
    Ok(page(
        "Overview",
        Some(&session),
        html! {
            h1 { "Overview" }
            section aria-label="Certificates by status" .cards {
                (card("valid", stats.certificates_active, "/ui/certificates?status=active"))
                (card("expiring within 30 days", stats.certificates_expiring, "/ui/certificates?status=expiring"))
                (card("expired", stats.certificates_expired, "/ui/certificates?status=expired"))
                (card("revoked", stats.certificates_revoked, "/ui/certificates?status=revoked"))
                (card("services", stats.services, "/ui/services"))
            }
            p { a href="/ui/certificates?expires_within_days=7" { "Expiring within 7 days" } " · "
                a href="/ui/certificates?expires_within_days=30" { "within 30 days" } }
            h2 { "Issued per day (last " (CHART_DAYS) " days)" }
            (chart(&days))
            h2 { "Certificate authority" }
            dl.fields {
                @for (label, ca) in [("Root", &info.root), ("Intermediate", &info.intermediate)] {
                    dt { (label) }
                    dd { @if let Some(ca) = ca {
                        (ca.subject) " — valid until " (when(ca.not_after)) " (" (ca.days_until_expiry) " days)"
                    } @else { "not created" } }
                }
                dt { "Chain" } dd { (info.chain_status) }
                dt { "Keys" } dd { @if info.sealed { "sealed (signing refused until unlocked)" } @else { "unlocked" } }
                dt { "CRL" }
                dd { @if let Some(c) = &crl {
                    "number " (c.crl_number) ", " (c.revoked_count) " entries, this update " (when(c.this_update))
                    ", next update " (when(c.next_update)) " · " a href="/crl" { "download" }
                } @else { "none published yet" } }
                dt { "OCSP responder" }
                dd { @if let Some(u) = &ocsp { code { (u) } } @else { "/ocsp on this server (set --public-url to name it in certificates)" } }
            }
        },
    ))
}

/// The issuance chart as inline SVG (no script; attributes, not inline styles).
fn chart(days: &[(String, i64)]) -> Markup {
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (w, h, bar) = (900i64, 160i64, 900 / days.len().max(1) as i64);
    let total: i64 = days.iter().map(|(_, n)| *n).sum();
    html! {
        svg.chart viewBox={"0 0 " (w) " " (h + 20)} role="img"
            aria-label={ (total) " certificates issued in the last " (days.len()) " days" } {
            @for (i, (day, n)) in days.iter().enumerate() {
                @let height = (n * h / max).max(if *n > 0 { 1 } else { 0 });
                rect x=(i as i64 * bar + 1) y=(h - height) width=(bar - 2) height=(height) {
                    title { (day) ": " (n) }
                }
                @if i % 5 == 0 { text x=(i as i64 * bar + 1) y=(h + 14) { (&day[5..]) } }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct CursorQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    verify: Option<String>,
}

pub async fn services(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<CursorQuery>,
) -> UiResult<Html<String>> {
    services_page(&state, &session, q.cursor.as_deref(), None).await
}

async fn services_page(
    state: &AppState,
    session: &UiSession,
    cursor: Option<&str>,
    shown_once: Option<Markup>,
) -> UiResult<Html<String>> {
    session
        .requester
        .require_reader(&state.store, "service.list", None)
        .await?;
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| UiError::bad_request("that page cursor is not one this server made"))
        })
        .transpose()?;
    let (items, next) = state.store.list_services(100, cursor).await?;
    Ok(page(
        "Services",
        Some(session),
        html! {
            h1 { "Services" }
            @if let Some(m) = shown_once { (m) }
            div.table-wrap { table {
                thead { tr { th { "Service" } th { "Name" } th { "Allowed names" } th { "Enrollment" } th { "Certificates" } } }
                tbody { @for s in &items { tr {
                    td.mono { (s.service_id) }
                    td { (s.service_name) }
                    td.mono { (s.allowed_dns.iter().chain(s.allowed_ip.iter()).cloned().collect::<Vec<_>>().join(", ")) }
                    td { @if s.enrollment_used_at.is_some() { "used" } @else if let Some(e) = s.enrollment_expires_at { "open until " (when(e)) } @else { "—" } }
                    td { a href={ "/ui/certificates?service_id=" (percent(&s.service_id)) } { "list" } }
                } } }
            } }
            @if let Some(n) = next { p { a href={ "/ui/services?cursor=" (n) } { "Next page" } } }
            @if session.is_admin() {
                h2 { "Register a service" }
                form.stack method="post" action="/ui/services" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="service_id" { "Service id (lower case, digits, - and .)" }
                    input #service_id name="service_id" required maxlength="64";
                    label for="service_name" { "Display name" }
                    input #service_name name="service_name" maxlength="128";
                    label for="allowed_dns" { "Allowed DNS names (comma separated)" }
                    input #allowed_dns name="allowed_dns";
                    label for="allowed_ip" { "Allowed IP addresses (comma separated)" }
                    input #allowed_ip name="allowed_ip";
                    button type="submit" { "Register" }
                }
            }
        },
    ))
}

#[derive(serde::Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    allowed_dns: String,
    #[serde(default)]
    allowed_ip: String,
}

fn list_of(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn register_service(
    State(state): State<AppState>,
    session: UiSession,
    form: Result<Form<RegisterForm>, axum::extract::rejection::FormRejection>,
) -> UiResult<Html<String>> {
    let Form(f) = form.map_err(|e| UiError::bad_request(e.body_text()))?;
    session
        .check_csrf(&state, "service.register", &f.csrf)
        .await?;
    let name = if f.service_name.trim().is_empty() {
        f.service_id.clone()
    } else {
        f.service_name.clone()
    };
    let registered = state
        .authority
        .register_service(
            &session.requester,
            ServiceRegistration {
                service_id: f.service_id.trim().to_string(),
                service_name: name.trim().to_string(),
                allowed_dns: list_of(&f.allowed_dns),
                allowed_ip: list_of(&f.allowed_ip),
                ..Default::default()
            },
        )
        .await?;
    let shown = html! {
        div.secret role="status" {
            p { "Registered " strong { (registered.service.service_id) } ". Its one-time enrollment token is shown "
                strong { "only now" } ":" }
            @if let Some(t) = &registered.enrollment_token { pre #enrollment-token { (t.as_str()) } }
            p.hint { "Give it to the service: " code { "vcc-pki-client enroll --token …" } ". It works once." }
        }
    };
    services_page(&state, &session, None, Some(shown)).await
}

pub async fn tokens(State(state): State<AppState>, session: UiSession) -> UiResult<Html<String>> {
    tokens_page(&state, &session, None).await
}

async fn tokens_page(
    state: &AppState,
    session: &UiSession,
    shown_once: Option<Markup>,
) -> UiResult<Html<String>> {
    let tokens = state.authority.list_tokens(&session.requester).await?;
    Ok(page(
        "Tokens",
        Some(session),
        html! {
            h1 { "API tokens" }
            @if let Some(m) = shown_once { (m) }
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "State" } th { span.hint { "Action" } } } }
                tbody { @for t in &tokens { tr {
                    td { (t.name) } td { (t.role) } td { (when(t.created_at)) }
                    td { @if let Some(r) = t.revoked_at { "revoked " (when(r)) } @else { "active" } }
                    td { @if session.is_admin() && t.revoked_at.is_none() {
                        form.inline method="post" action={ "/ui/tokens/" (t.id) "/revoke" } {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button.danger type="submit" aria-label={ "Revoke token " (t.name) } { "Revoke" }
                        }
                    } }
                } } }
            } }
            @if session.is_admin() {
                h2 { "Create a token" }
                form.stack method="post" action="/ui/tokens" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="token-name" { "Name" }
                    input #token-name name="name" required maxlength="64";
                    label for="token-role" { "Role" }
                    select #token-role name="role" {
                        option value="auditor" { "auditor (reads everything, changes nothing)" }
                        option value="admin" { "admin" }
                    }
                    button type="submit" { "Create" }
                }
            }
        },
    ))
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    session: UiSession,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> UiResult<Html<String>> {
    let Form(f) = form.map_err(|e| UiError::bad_request(e.body_text()))?;
    session.check_csrf(&state, "token.create", &f.csrf).await?;
    let role = TokenRole::parse(&f.role)?;
    let created = state
        .authority
        .create_token(&session.requester, &f.name, role)
        .await?;
    let shown = html! {
        div.secret role="status" {
            p { "Created token " strong { (created.name) } " (" (created.role.as_str()) "). It is shown " strong { "only now" } ":" }
            pre #new-token { (created.token.as_str()) }
        }
    };
    tokens_page(&state, &session, Some(shown)).await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<i64>,
    form: Result<Form<super::session::CsrfForm>, axum::extract::rejection::FormRejection>,
) -> UiResult<Response> {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    session.check_csrf(&state, "token.revoke", &csrf).await?;
    state
        .authority
        .revoke_admin_token(&session.requester, id)
        .await?;
    Ok(Redirect::to("/ui/tokens").into_response())
}

pub async fn audit(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<CursorQuery>,
) -> UiResult<Html<String>> {
    session
        .requester
        .require_reader(&state.store, "audit.read", None)
        .await?;
    let before = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| UiError::bad_request("that page cursor is not one this server made"))
        })
        .transpose()?;
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (action, target) = (non_empty(&q.action), non_empty(&q.target));
    let rows = state
        .store
        .audit_page(action.as_deref(), target.as_deref(), before, 100)
        .await?;
    let verification = if q.verify.is_some() {
        Some(state.store.verify_audit_chain().await?)
    } else {
        None
    };
    let next = (rows.len() == 100)
        .then(|| rows.last().and_then(|r| r["id"].as_i64()))
        .flatten();
    Ok(page(
        "Audit log",
        Some(&session),
        html! {
            h1 { "Audit log" }
            form.filters method="get" action="/ui/audit" {
                label for="action" { "Action" input #action name="action" value=[action.as_deref()] placeholder="certificate.revoke"; }
                label for="target" { "Target" input #target name="target" value=[target.as_deref()] placeholder="serial or service"; }
                button type="submit" { "Filter" }
            }
            form.inline method="get" action="/ui/audit" {
                input type="hidden" name="verify" value="1";
                button type="submit" { "Verify the hash chain" }
            }
            @if let Some(v) = &verification {
                p.notice role="status" #chain-result {
                    @if v.intact { "Chain intact: " (v.rows) " rows verified from the first; head " code { (v.head_hash) } }
                    @else { "Chain BROKEN at row " (v.first_broken_id.unwrap_or_default()) " (" (v.rows) " rows read)" }
                }
            }
            (audit_table(&rows))
            @if let Some(n) = next {
                p { a href={ "/ui/audit?cursor=" (n) "&action=" (percent(action.as_deref().unwrap_or(""))) "&target=" (percent(target.as_deref().unwrap_or(""))) } { "Older entries" } }
            }
        },
    ))
}

/// Audit rows as a table (also on a certificate's page).
pub fn audit_table(rows: &[serde_json::Value]) -> Markup {
    let text = |v: &serde_json::Value| {
        v.as_str().map(str::to_string).unwrap_or_else(|| {
            if v.is_null() {
                String::new()
            } else {
                v.to_string()
            }
        })
    };
    html! {
        div.table-wrap { table {
            thead { tr { th { "#" } th { "When" } th { "Actor" } th { "Action" } th { "Target" } th { "Outcome" } th { "Details" } } }
            tbody { @for r in rows { tr {
                td { (text(&r["id"])) } td { (text(&r["occurred_at"])) } td { (text(&r["actor"])) }
                td { (text(&r["action"])) } td.mono { (text(&r["target_id"])) } td { (text(&r["outcome"])) }
                td.mono { (text(&r["details"])) }
            } } }
        } }
    }
}

pub async fn acme(State(state): State<AppState>, session: UiSession) -> UiResult<Html<String>> {
    let accounts = state
        .authority
        .acme_accounts(&session.requester, 100)
        .await?;
    let orders = state
        .authority
        .acme_orders(&session.requester, None, 100)
        .await?;
    let keys = state.authority.eab_keys(&session.requester).await?;
    Ok(page(
        "ACME",
        Some(&session),
        html! {
            h1 { "ACME" }
            p.hint { "Directory: " code { "/acme/directory" } ". Renewal windows (ARI) of a certificate are on its page." }
            h2 { "Accounts (newest 100)" }
            div.table-wrap { table {
                thead { tr { th { "Account" } th { "Status" } th { "Contact" } th { "Created" } } }
                tbody { @for a in &accounts { tr {
                    td.mono { (a.id) } td { (a.status) } td { (a.contact.join(", ")) } td { (when(a.created_at)) }
                } } }
            } }
            h2 { "Orders (newest 100)" }
            div.table-wrap { table {
                thead { tr { th { "Order" } th { "Account" } th { "Status" } th { "Identifiers" } th { "Profile" } th { "Certificate" } } }
                tbody { @for o in &orders { tr {
                    td.mono { (o.id) } td.mono { (o.account_id) } td { (o.status) }
                    td { (o.identifiers.iter().map(|i| i.value.clone()).collect::<Vec<_>>().join(", ")) }
                    td { (o.profile) }
                    td.mono { @if let Some(s) = &o.certificate_serial { a href={ "/ui/certificates/" (s) } { (s) } } }
                } } }
            } }
            h2 { "External account binding keys" }
            div.table-wrap { table {
                thead { tr { th { "Key id" } th { "Allowed names" } th { "Profiles" } th { "Expires" } th { "State" } } }
                tbody { @for k in &keys { tr {
                    td.mono { (k.kid) }
                    td { (k.allowed_dns.iter().chain(k.allowed_ip.iter()).cloned().collect::<Vec<_>>().join(", ")) }
                    td { (k.profiles.join(", ")) }
                    td { @if let Some(e) = k.expires_at { (when(e)) } @else { "never" } }
                    td { @if k.revoked_at.is_some() { "revoked" } @else if k.used_at.is_some() && !k.reusable { "used" } @else { "usable" } }
                } } }
            } }
        },
    ))
}
