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
            tree.sampling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path.to_string(), fraction);
            super::persist(tree).await;
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

/// Sends a test notification through channel `name` (the real transport, its retries and breaker)
/// and answers with what happened to it: delivered or failed, after how many attempts, and why.
pub(super) async fn notify_test(state: State, path: web::Path<String>) -> HttpResponse {
    use actix_web::http::StatusCode;
    use watchkeeper_actors::notify::{
        AlertPayload, AlertStatus, Deliver, DeliveryReport, Notification,
    };
    let tree = state.get_ref();
    let name = path.into_inner();
    let Some(notifier) = tree.channels.get(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no enabled channel named `{name}`"),
        );
    };
    let labels = std::collections::BTreeMap::from([
        (
            "alertname".to_owned(),
            "WatchkeeperTestNotification".to_owned(),
        ),
        ("severity".to_owned(), "info".to_owned()),
    ]);
    let now = chrono::Utc::now();
    let notification = Notification {
        id: Notification::next_id(),
        channel: name.clone(),
        route: "{}".into(),
        group_key: "{}:{alertname=\"WatchkeeperTestNotification\"}".into(),
        group_labels: labels.clone(),
        status: AlertStatus::Firing,
        alerts: vec![AlertPayload {
            fingerprint: watchkeeper_actors::alerting::fingerprint(&labels),
            labels,
            annotations: std::collections::BTreeMap::from([(
                "summary".to_owned(),
                format!("A test notification from watchkeeper to `{name}`; nothing is wrong."),
            )]),
            status: AlertStatus::Firing,
            starts_at: now,
            ends_at: None,
            value: None,
        }],
        summary: None,
        created_at: now,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<DeliveryReport>();
    let tx = std::sync::Mutex::new(Some(tx));
    let report_to = std::sync::Arc::new(move |report: DeliveryReport| {
        if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(report);
        }
    });
    if let Err(e) = notifier.tell(Deliver {
        notification,
        report_to,
    }) {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    let deadline = tree.config.get().alerting.channels.delivery.deadline + tree.link.ask_timeout;
    match tokio::time::timeout(deadline, rx).await {
        Ok(Ok(report)) => {
            let status = match report.outcome {
                watchkeeper_actors::notify::DeliveryOutcome::Delivered => StatusCode::OK,
                watchkeeper_actors::notify::DeliveryOutcome::Failed => StatusCode::BAD_GATEWAY,
            };
            HttpResponse::build(status).json(json!({
                "channel": report.channel,
                "outcome": report.outcome,
                "attempts": report.attempts,
                "error": report.error,
            }))
        }
        Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, "the notifier stopped"),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no outcome within {deadline:?}"),
        ),
    }
}
