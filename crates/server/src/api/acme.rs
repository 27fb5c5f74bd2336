//! Admin endpoints for the ACME front end (SPEC §9). The protocol itself is crate vcc-pki-acme,
//! merged under /acme/.
use crate::auth::RequestContext;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use vcc_pki_proto::{Problem, RenewalWindowMoveRequest, RenewalWindowMoveResponse};
use vcc_pki_store::RenewalSelection;

#[utoipa::path(post, path = "/api/acme/renewal-windows/move", tag = "acme",
    request_body = RenewalWindowMoveRequest,
    responses(
        (status = 200, description = "The windows moved; ARI clients renew at their next check", body = RenewalWindowMoveResponse),
        (status = "4XX", description = "Refused or malformed; nothing moved", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn move_renewal_windows(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<RenewalWindowMoveRequest>, JsonRejection>,
) -> ApiResult<Json<RenewalWindowMoveResponse>> {
    ctx.require_admin(&state.store, "acme.renewal.move", None)
        .await?;
    let Json(req) = body?;
    let chosen = usize::from(!req.serial_numbers.is_empty())
        + usize::from(req.service_id.is_some())
        + usize::from(req.issued_before.is_some())
        + usize::from(req.all);
    if chosen != 1 {
        return Err(ApiError::bad_request(
            "name exactly one of serial_numbers, service_id, issued_before, all",
        ));
    }
    let selection = if let Some(service) = req.service_id {
        RenewalSelection::Service(service)
    } else if let Some(before) = req.issued_before {
        let at =
            time::OffsetDateTime::parse(&before, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::bad_request("issued_before must be an RFC 3339 time"))?;
        RenewalSelection::IssuedBefore(at)
    } else if req.all {
        RenewalSelection::All
    } else {
        let serials = req
            .serial_numbers
            .iter()
            .map(|s| {
                vcc_pki_core::Serial::from_hex(s)
                    .ok_or_else(|| ApiError::bad_request(format!("serial '{s}' is not hex")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        RenewalSelection::Serials(serials)
    };
    let moved = state
        .authority
        .move_renewal_windows(&ctx, selection, req.explanation_url)
        .await?;
    Ok(Json(RenewalWindowMoveResponse { moved }))
}
