//! Operations on the running runtime: a monitor's sampling, and reloading the configuration.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use watchkeeper_actors::monitor::SetSampling;

use super::{error, State};
use crate::error::Error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SamplingRequest {
    fraction: f64,
}

pub(super) async fn set_sampling(
    state: State,
    path: web::Path<String>,
    body: web::Json<SamplingRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref();
    if !(body.fraction.is_finite() && body.fraction > 0.0 && body.fraction <= 1.0) {
        return error(
            StatusCode::BAD_REQUEST,
            "fraction must be a number in (0, 1]",
        );
    }
    let handle = tree.handle(path.as_str());
    let Some(handle) = handle else {
        return error(StatusCode::NOT_FOUND, format!("no monitor named `{path}`"));
    };
    match handle
        .actor()
        .ask(SetSampling(body.fraction), tree.link.ask_timeout)
        .await
    {
        Ok(fraction) => {
            HttpResponse::Ok().json(json!({ "monitor": path.as_str(), "fraction": fraction }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Reads the configuration file again and applies it (Prometheus' `/-/reload`). With errors nothing
/// changes and the findings come back as JSON with 400.
pub(super) async fn reload(state: State) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref().clone();
    let link = tree.link.clone();
    let outcome = link.run(async move { tree.reload_file().await }).await;
    match outcome {
        Ok(Ok(report)) => HttpResponse::Ok().json(json!({ "status": "success", "report": report })),
        Ok(Err(Error::Invalid(validation))) => HttpResponse::BadRequest().json(json!({
            "status": "error",
            "error": "the configuration has errors; nothing changed",
            "findings": validation.findings,
        })),
        Ok(Err(Error::Config(e))) => HttpResponse::BadRequest().json(json!({
            "status": "error",
            "error": e.to_string(),
            "findings": [{
                "severity": "error",
                "field": e.field,
                "message": e.message,
                "position": e.position,
            }],
        })),
        Ok(Err(e)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
