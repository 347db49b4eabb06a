//! Alerts, acknowledgements and silences.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use watchkeeper_actors::alerting::{
    AckError, Acknowledge, AddSilence, GetAlerts, GetSilences, Matcher, RemoveSilence, Silence,
};

use super::auth::authorize;
use super::{error, State};

pub(super) async fn alerts(state: State) -> HttpResponse {
    let tree = state.get_ref();
    let alerting = &tree.alerting;
    let t = tree.link.ask_timeout;
    match (
        alerting.ask(GetAlerts, t).await,
        alerting.ask(GetSilences, t).await,
    ) {
        (Ok(alerts), Ok(silences)) => {
            HttpResponse::Ok().json(json!({ "alerts": alerts, "silences": silences }))
        }
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
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<AckRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref();
    if let Some(refusal) = authorize(tree, &req) {
        return refusal;
    }
    let alerting = &tree.alerting;
    let Ok(fingerprint) = u64::from_str_radix(path.as_str(), 16) else {
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
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "acknowledged": path.as_str() })),
        Ok(Err(e @ AckError::NotFound(_))) => error(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e @ AckError::NotFiring(_))) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SilenceRequest {
    matchers: Vec<Matcher>,
    #[serde(default)]
    starts_at: Option<chrono::DateTime<chrono::Utc>>,
    ends_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

pub(super) async fn add_silence(
    state: State,
    req: HttpRequest,
    body: web::Json<SilenceRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref();
    if let Some(refusal) = authorize(tree, &req) {
        return refusal;
    }
    let alerting = &tree.alerting;
    let b = body.into_inner();
    if b.matchers.len() > 64 {
        return error(StatusCode::BAD_REQUEST, "at most 64 matchers");
    }
    let silence = Silence {
        id: 0,
        matchers: b.matchers,
        starts_at: b.starts_at.unwrap_or_else(chrono::Utc::now),
        ends_at: b.ends_at,
        created_by: b.created_by,
        comment: b.comment,
    };
    match alerting
        .ask(AddSilence(silence), tree.link.ask_timeout)
        .await
    {
        Ok(Ok(id)) => HttpResponse::Created().json(json!({ "id": id })),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

pub(super) async fn remove_silence(
    state: State,
    req: HttpRequest,
    path: web::Path<u64>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref();
    if let Some(refusal) = authorize(tree, &req) {
        return refusal;
    }
    let alerting = &tree.alerting;
    match alerting
        .ask(RemoveSilence(*path), tree.link.ask_timeout)
        .await
    {
        Ok(true) => HttpResponse::Ok().json(json!({ "removed": *path })),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no silence {}", *path)),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
