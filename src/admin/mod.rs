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
//! | `POST /channels/{name}/test` | sends a test notification through the channel; answers with its delivery (200 delivered, 502 failed); token |
//! | `GET/POST /api/v2/...` | Alertmanager's v2 API (`am.rs`): alerts, groups, silences, status, receivers |
//! | `POST /-/reload` | reads the configuration file again and applies it; 400 with the findings when it has errors; token required |
//! | `GET /`, `GET /api/status`, `GET /api/history`, `GET /monitors/{name}/history` | the status page and its JSON (`status.rs`) |
//!
//! Handlers live by what they serve: `health.rs` (health and metrics), `alerts.rs` (alerts and
//! silences), `ops.rs` (sampling, reload), `auth.rs` (the token), `status.rs` (the status page).
//! It binds 127.0.0.1 unless configured otherwise. Every error is JSON (`{"error": "..."}`) with
//! a 4xx status; bodies over 16 KiB are refused. Mutating endpoints refuse every request when no
//! token is configured.

mod alerts;
mod am;
mod auth;
mod health;
mod ops;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{guard, web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

use crate::error::Error;
use crate::tree::ActorTree;

const HEALTH_JSON: &str = "application/health+json";
const BODY_LIMIT: usize = 16 * 1024;

type State = web::Data<Arc<ActorTree>>;

fn error(status: actix_web::http::StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        format!("no such endpoint: {} {}", req.method(), req.path()),
    )
}

/// `GET` and `HEAD` (the same answer without its body).
fn read() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Every endpoint; those that change anything pass the token check first.
fn routes(cfg: &mut web::ServiceConfig) {
    let token = || from_fn(auth::require_token);
    cfg.configure(status::routes)
        .route("/health/live", read().to(health::live))
        .route("/health/ready", read().to(health::ready))
        .route("/health", read().to(health::health_report))
        .route("/metrics", read().to(health::metrics))
        .route("/alerts", read().to(alerts::alerts))
        .service(
            web::resource("/alerts/{fingerprint}/acknowledge")
                .wrap(token())
                .route(web::post().to(alerts::acknowledge)),
        )
        .service(
            web::resource("/monitors/{name}/sampling")
                .wrap(token())
                .route(web::post().to(ops::set_sampling)),
        )
        .service(
            web::resource("/channels/{name}/test")
                .wrap(token())
                .route(web::post().to(ops::notify_test)),
        )
        .service(
            web::resource("/-/reload")
                .wrap(token())
                .route(web::post().to(ops::reload)),
        )
        .route("/api/v2/status", read().to(am::get_status))
        .route("/api/v2/receivers", read().to(am::get_receivers))
        .route("/api/v2/alerts/groups", read().to(am::get_groups))
        .service(
            web::resource("/api/v2/alerts")
                .route(read().to(am::get_alerts))
                .route(web::post().to(am::post_alerts).wrap(token())),
        )
        .service(
            web::resource("/api/v2/silences")
                .route(read().to(am::get_silences))
                .route(web::post().to(am::post_silence).wrap(token())),
        )
        .service(
            web::resource("/api/v2/silence/{id}")
                .route(read().to(am::get_silence))
                .route(web::delete().to(am::delete_silence).wrap(token())),
        );
}

/// Starts the server on the current actix system; returns its handle and the address it listens on.
pub(crate) fn start(tree: Arc<ActorTree>) -> Result<(ServerHandle, SocketAddr), Error> {
    let config = tree.config.get();
    let d = &config.deployment;
    let ip: std::net::IpAddr = d.bind_address.parse().map_err(|_| {
        Error::Start(format!(
            "admin server: `{}` is not an IP address",
            d.bind_address
        ))
    })?;
    let port = d.health_check_port;
    let data = web::Data::new(tree);
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
            .configure(routes)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind((ip, port))
    .map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another process, or another runtime in this one, has it; deployment.health_check_port: 0 picks a free port)"
        } else {
            ""
        };
        Error::Start(format!("admin server: cannot listen on {ip}:{port}: {e}{hint}"))
    })?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| Error::Start("the admin server bound no address".into()))?;
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
