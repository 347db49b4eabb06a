//! The admin HTTP server (actix-web). Its whole surface:
//!
//! | method and path | answer |
//! | --- | --- |
//! | `GET /health/live` | 200 while the process answers; depends on nothing else |
//! | `GET /health/ready` | 200 when every actor runs and the root has not escalated, else 503 |
//! | `GET /health` | the health report, `application/health+json`, status pass/warn/fail; 200, or 503 on fail |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /alerts` | active alerts and silences (JSON) |
//! | `POST /alerts/{fingerprint}/acknowledge` | `{"by": "ana"}` stops the alert's escalation; token required |
//! | `POST /silences` | `{"matchers": [...], "ends_at": "...", ...}` adds a silence; token required |
//! | `DELETE /silences/{id}` | removes a silence; token required |
//! | `POST /monitors/{name}/sampling` | `{"fraction": 0.1}` sets a monitor's sampling; token required |
//!
//! It binds 127.0.0.1 unless configured otherwise. Every error is JSON (`{"error": "..."}`) with a 4xx
//! status; bodies over 16 KiB are refused. Mutating endpoints refuse every request when no token is
//! configured.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;
use watchkeeper_actors::alerting::{
    Acknowledge, AddSilence, GetAlertingStatus, GetAlerts, GetSilences, Matcher, RemoveSilence,
    Silence,
};
use watchkeeper_actors::{ChildState, GetProcessStats, SetSampling};

use crate::exposition;
use crate::health::{self, HealthStatus};
use crate::runtime::Inner;

const HEALTH_JSON: &str = "application/health+json";
const BODY_LIMIT: usize = 16 * 1024;

type State = web::Data<Arc<Inner>>;

fn error(status: actix_web::http::StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(HEALTH_JSON)
        .body(r#"{"status":"pass"}"#)
}

async fn ready(state: State) -> HttpResponse {
    let inner = state.get_ref();
    let status = inner.root.status(inner.link.ask_timeout).await;
    let not_running: Vec<String> = match &status {
        None => vec!["root supervisor (not answering)".to_owned()],
        Some(s) => s
            .all_children()
            .into_iter()
            .filter(|c| c.state != ChildState::Running && c.mailbox.is_some())
            .map(|c| c.name.clone())
            .collect(),
    };
    let escalated = inner.alarm.escalated();
    let body = json!({
        "status": if not_running.is_empty() && !escalated { "pass" } else { "fail" },
        "not_running": not_running,
        "escalated": escalated,
    });
    if not_running.is_empty() && !escalated {
        HttpResponse::Ok()
            .content_type(HEALTH_JSON)
            .body(body.to_string())
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type(HEALTH_JSON)
            .body(body.to_string())
    }
}

async fn health_report(state: State) -> HttpResponse {
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

/// Everything one scrape shows, gathered with the ask timeout.
pub(crate) async fn snapshot(inner: &Inner) -> exposition::Snapshot {
    let handles = inner.handles();
    let mut monitors: Vec<_> = handles.iter().map(|h| h.store().exposition()).collect();
    monitors.sort_by(|a, b| a.monitor.cmp(&b.monitor));
    let alerting = match &inner.alerting {
        Some(a) => a.ask(GetAlertingStatus, inner.link.ask_timeout).await.ok(),
        None => None,
    };
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    exposition::Snapshot {
        monitors,
        supervision: inner.root.status(inner.link.ask_timeout).await,
        process: inner
            .process
            .ask(GetProcessStats, inner.link.ask_timeout)
            .await
            .ok(),
        uptime_seconds: inner.started.elapsed().as_secs_f64(),
        alerting,
        channels: inner
            .channels
            .iter()
            .map(|(n, _, c)| {
                (
                    n.clone(),
                    load(&c.delivered),
                    load(&c.failed),
                    load(&c.retried),
                )
            })
            .collect(),
    }
}

async fn metrics(state: State) -> HttpResponse {
    let inner = state.get_ref();
    if !inner.config.deployment.metrics_enabled {
        return error(
            actix_web::http::StatusCode::NOT_FOUND,
            "metrics are disabled",
        );
    }
    let text = exposition::render(&snapshot(inner).await);
    HttpResponse::Ok()
        .content_type(exposition::CONTENT_TYPE)
        .body(text)
}

/// Compares in time independent of where the strings first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `None` when the request carries the configured bearer token, else the refusal.
fn authorize(inner: &Inner, req: &HttpRequest) -> Option<HttpResponse> {
    use actix_web::http::StatusCode;
    let Some(secret) = &inner.config.deployment.admin_token else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "mutating endpoints are disabled: no admin_token is configured",
        ));
    };
    let Ok(token) = secret.resolve() else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "mutating endpoints are disabled: the admin token is not available",
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if !token.is_empty() && same(given.as_bytes(), token.as_bytes()) => None,
        _ => Some(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(json!({ "error": "a valid bearer token is required" })),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplingRequest {
    fraction: f64,
}

async fn set_sampling(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<SamplingRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let inner = state.get_ref();
    if let Some(refusal) = authorize(inner, &req) {
        return refusal;
    }
    if !(body.fraction.is_finite() && body.fraction > 0.0 && body.fraction <= 1.0) {
        return error(
            StatusCode::BAD_REQUEST,
            "fraction must be a number in (0, 1]",
        );
    }
    let handle = inner
        .monitors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(path.as_str())
        .cloned();
    let Some(handle) = handle else {
        return error(StatusCode::NOT_FOUND, format!("no monitor named `{path}`"));
    };
    match handle
        .actor()
        .ask(SetSampling(body.fraction), inner.link.ask_timeout)
        .await
    {
        Ok(fraction) => {
            HttpResponse::Ok().json(json!({ "monitor": path.as_str(), "fraction": fraction }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn alerting_disabled() -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        "alerting is disabled",
    )
}

async fn alerts(state: State) -> HttpResponse {
    let inner = state.get_ref();
    let Some(alerting) = &inner.alerting else {
        return alerting_disabled();
    };
    let t = inner.link.ask_timeout;
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
struct AckRequest {
    by: String,
}

async fn acknowledge(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<AckRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let inner = state.get_ref();
    if let Some(refusal) = authorize(inner, &req) {
        return refusal;
    }
    let Some(alerting) = &inner.alerting else {
        return alerting_disabled();
    };
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
        .ask(Acknowledge { fingerprint, by }, inner.link.ask_timeout)
        .await
    {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "acknowledged": path.as_str() })),
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceRequest {
    matchers: Vec<Matcher>,
    #[serde(default)]
    starts_at: Option<chrono::DateTime<chrono::Utc>>,
    ends_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

async fn add_silence(
    state: State,
    req: HttpRequest,
    body: web::Json<SilenceRequest>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let inner = state.get_ref();
    if let Some(refusal) = authorize(inner, &req) {
        return refusal;
    }
    let Some(alerting) = &inner.alerting else {
        return alerting_disabled();
    };
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
        .ask(AddSilence(silence), inner.link.ask_timeout)
        .await
    {
        Ok(Ok(id)) => HttpResponse::Created().json(json!({ "id": id })),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn remove_silence(state: State, req: HttpRequest, path: web::Path<u64>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let inner = state.get_ref();
    if let Some(refusal) = authorize(inner, &req) {
        return refusal;
    }
    let Some(alerting) = &inner.alerting else {
        return alerting_disabled();
    };
    match alerting
        .ask(RemoveSilence(*path), inner.link.ask_timeout)
        .await
    {
        Ok(true) => HttpResponse::Ok().json(json!({ "removed": *path })),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no silence {}", *path)),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        format!("no such endpoint: {} {}", req.method(), req.path()),
    )
}

/// Starts the server on the current actix system; returns its handle and the address it listens on.
pub(crate) fn start(inner: Arc<Inner>) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let d = &inner.config.deployment;
    let ip: std::net::IpAddr = d.bind_address.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{}` is not an IP address", d.bind_address),
        )
    })?;
    let port = d.health_check_port;
    let data = web::Data::new(inner);
    let server = HttpServer::new(move || {
        let json = web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|err, _| {
                let status = match &err {
                    actix_web::error::JsonPayloadError::Overflow { .. }
                    | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                    }
                    actix_web::error::JsonPayloadError::ContentType => {
                        actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
                    }
                    _ => actix_web::http::StatusCode::BAD_REQUEST,
                };
                let message = err.to_string();
                actix_web::error::InternalError::from_response(err, error(status, message)).into()
            });
        let path = web::PathConfig::default().error_handler(|err, _| {
            let message = err.to_string();
            actix_web::error::InternalError::from_response(
                err,
                error(actix_web::http::StatusCode::BAD_REQUEST, message),
            )
            .into()
        });
        App::new()
            .app_data(data.clone())
            .app_data(json)
            .app_data(path)
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
            .route("/health", web::get().to(health_report))
            .route("/metrics", web::get().to(metrics))
            .route("/alerts", web::get().to(alerts))
            .route(
                "/alerts/{fingerprint}/acknowledge",
                web::post().to(acknowledge),
            )
            .route("/silences", web::post().to(add_silence))
            .route("/silences/{id}", web::delete().to(remove_silence))
            .route("/monitors/{name}/sampling", web::post().to(set_sampling))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind((ip, port))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the admin server bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "Admin server stopped with an error");
        }
    });
    tracing::info!(%addr, "Admin server listening");
    Ok((handle, addr))
}
