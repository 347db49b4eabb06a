//! The health endpoints and `/metrics`: what an orchestrator and Prometheus ask.

use actix_web::HttpResponse;
use serde_json::json;
use watchkeeper_actors::ChildState;

use super::{error, State, HEALTH_JSON};
use crate::exposition;
use crate::health::{self, HealthStatus};

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(HEALTH_JSON)
        .body(r#"{"status":"pass"}"#)
}

pub(super) async fn ready(state: State) -> HttpResponse {
    let tree = state.get_ref();
    let status = tree.root.status(tree.link.ask_timeout).await;
    let not_running: Vec<String> = match &status {
        None => vec!["root supervisor (not answering)".to_owned()],
        Some(s) => s
            .all_children()
            .into_iter()
            .filter(|c| c.state != ChildState::Running && c.mailbox.is_some())
            .map(|c| c.name.clone())
            .collect(),
    };
    let escalated = tree.alarm.escalated();
    let failing: Vec<serde_json::Value> = tree
        .probe_state
        .lock()
        .failing_critical()
        .into_iter()
        .map(|c| json!({ "name": c.name, "error": c.last_error }))
        .collect();
    let ready = not_running.is_empty() && !escalated && failing.is_empty();
    let body = json!({
        "status": if ready { "pass" } else { "fail" },
        "not_running": not_running,
        "escalated": escalated,
        "failing_checks": failing,
    });
    if ready {
        HttpResponse::Ok()
            .content_type(HEALTH_JSON)
            .body(body.to_string())
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type(HEALTH_JSON)
            .body(body.to_string())
    }
}

pub(super) async fn health_report(state: State) -> HttpResponse {
    let report = health::assemble(state.get_ref().clone()).await;
    let status = match report.status {
        HealthStatus::Healthy => "pass",
        HealthStatus::Warning => "warn",
        HealthStatus::Critical => "fail",
    };
    let body = json!({
        "status": status,
        "description": "watchkeeper runtime",
        "notes": report.issues,
        "details": report,
    });
    let mut response = if report.status == HealthStatus::Critical {
        HttpResponse::ServiceUnavailable()
    } else {
        HttpResponse::Ok()
    };
    response.content_type(HEALTH_JSON).body(body.to_string())
}

pub(super) async fn metrics(state: State) -> HttpResponse {
    let tree = state.get_ref();
    if !tree.config.get().deployment.metrics_enabled {
        return error(
            actix_web::http::StatusCode::NOT_FOUND,
            "metrics are disabled",
        );
    }
    let text = exposition::render(&exposition::snapshot(tree).await);
    HttpResponse::Ok()
        .content_type(exposition::CONTENT_TYPE)
        .body(text)
}
