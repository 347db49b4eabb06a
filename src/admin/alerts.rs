//! Alerts, acknowledgements and silences.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use watchkeeper_actors::alerting::{AckError, Acknowledge, GetAlerts, GetSilences};

use super::{error, State};

/// The most entries of each list one page holds.
const PAGE_MAX: usize = 1000;

#[derive(Deserialize)]
pub(super) struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "page_default")]
    limit: usize,
}

fn page_default() -> usize {
    100
}

/// Active alerts (every state, with their evidence and history) and silences, a page of each:
/// `?offset=` and `?limit=` (at most 1,000); the totals say how many there are.
pub(super) async fn alerts(state: State, page: web::Query<Page>) -> HttpResponse {
    let tree = state.get_ref();
    let alerting = &tree.alerting;
    let t = tree.link.ask_timeout;
    let (offset, limit) = (page.offset, page.limit.min(PAGE_MAX));
    match (
        alerting.ask(GetAlerts, t).await,
        alerting.ask(GetSilences, t).await,
    ) {
        (Ok(alerts), Ok(silences)) => HttpResponse::Ok().json(json!({
            "total_alerts": alerts.len(),
            "total_silences": silences.len(),
            "offset": offset,
            "limit": limit,
            "alerts": alerts.iter().skip(offset).take(limit).collect::<Vec<_>>(),
            "silences": silences.iter().skip(offset).take(limit).collect::<Vec<_>>(),
        })),
        (Err(e), _) | (_, Err(e)) => error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            e.to_string(),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AckRequest {
    by: String,
}

pub(super) async fn acknowledge(
    state: State,
    path: web::Path<String>,
    body: web::Json<AckRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref();
    let alerting = &tree.alerting;
    let digits = path.as_str();
    let Some(fingerprint) =
        (!digits.is_empty() && digits.len() <= 16 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(digits, 16).ok())
            .flatten()
    else {
        return error(StatusCode::BAD_REQUEST, "the fingerprint is 16 hex digits");
    };
    let by = body.into_inner().by;
    if by.trim().is_empty() || by.len() > 256 {
        return error(
            StatusCode::BAD_REQUEST,
            "`by` must name who acknowledges (1 to 256 characters)",
        );
    }
    match alerting
        .ask(Acknowledge { fingerprint, by }, tree.link.ask_timeout)
        .await
    {
        Ok(Ok(())) => {
            super::persist(tree).await;
            HttpResponse::Ok().json(json!({ "acknowledged": path.as_str() }))
        }
        Ok(Err(e @ AckError::NotFound(_))) => error(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e @ AckError::NotFiring(_))) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
