//! The admin HTTP server (actix-web). Its whole surface:
//!
//! | method and path | answer |
//! | --- | --- |
//! | `GET /health/live` | 200 while the process answers; depends on nothing else |
//! | `GET /health/ready` | 200 when every actor runs, the root has not escalated and no critical dependency check fails, else 503 |
//! | `GET /health` | the health report, `application/health+json`, status pass/warn/fail; 200, or 503 on fail |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /alerts` | active alerts and silences (JSON) |
//! | `POST /alerts/{fingerprint}/acknowledge` | `{"by": "ana"}` stops the alert's escalation; token required |
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
mod am_config;
mod auth;
mod health;
mod ops;
mod pipeline;
mod server;
mod status;

pub(crate) use server::AdminServer;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{guard, web, App, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::Error;
use crate::tree::ActorTree;

const BODY_LIMIT: usize = 16 * 1024;

type State = web::Data<Arc<ActorTree>>;

fn error(status: actix_web::http::StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

/// Writes the state after an operator's change, before it is answered (a crash right after the
/// answer keeps the change); a failure to write is logged and shows in the health report and
/// `/metrics`, and the change stands.
async fn persist(tree: &ActorTree) {
    if let Err(e) = tree.persist().await {
        tracing::error!(error = %e, "An operator's change was applied but not saved");
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        format!("no such endpoint: {} {}", req.method(), req.path()),
    )
}

/// `GET` and `HEAD` (the same answer without its body).
pub(crate) fn read() -> actix_web::Route {
    web::route().guard(guard::fn_guard(|ctx| reads(&ctx.head().method)))
}

/// Whether a request only reads (`GET`, `HEAD`): every other method needs the token.
fn reads(method: &actix_web::http::Method) -> bool {
    matches!(
        *method,
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    )
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

/// The admin application: every endpoint, JSON errors for bad bodies and paths, and the deadline
/// on each whole request.
fn app(
    data: State,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
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
    App::new()
        .app_data(data)
        .app_data(json)
        .app_data(web::PathConfig::default().error_handler(bad_request))
        .app_data(web::QueryConfig::default().error_handler(bad_request))
        .app_data(web::PayloadConfig::new(BODY_LIMIT))
        .wrap(from_fn(within_deadline))
        .configure(routes)
        .default_service(web::to(not_found))
}

/// A path or query string that does not say what its endpoint takes: 400, in JSON like every
/// other error.
fn bad_request<E: actix_web::ResponseError + 'static>(err: E, _: &HttpRequest) -> actix_web::Error {
    let message = err.to_string();
    actix_web::error::InternalError::from_response(
        err,
        error(actix_web::http::StatusCode::BAD_REQUEST, message),
    )
    .into()
}

/// Middleware of every request: it is read and answered within `admin_limits.request_timeout`, or
/// answered 408 and its connection closed (a body trickling in a byte at a time holds nothing).
async fn within_deadline(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let deadline = req
        .app_data::<State>()
        .map(|s| s.config.get().deployment.admin_limits.request_timeout)
        .unwrap_or(std::time::Duration::from_secs(10));
    let close = req.conn_data::<server::CloseConnection>().cloned();
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(answer) => answer,
        Err(_) => {
            if let Some(close) = close {
                close.close();
            }
            let mut refusal = error(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                format!("the request was not complete within {deadline:?}"),
            );
            refusal
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            Err(actix_web::error::InternalError::from_response("request timeout", refusal).into())
        }
    }
}

/// A listening socket with room for a burst of connections (1024 waiting to be accepted).
fn listen(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)?.into_std()
}

/// Starts the server on an arbiter of its own; returns it (with the address it listens on).
pub(crate) fn start(tree: Arc<ActorTree>) -> Result<server::AdminServer, Error> {
    let config = tree.config.get();
    let d = &config.deployment;
    let ip: std::net::IpAddr = d.bind_address.parse().map_err(|_| {
        Error::Start(format!(
            "admin server: `{}` is not an IP address",
            d.bind_address
        ))
    })?;
    let port = d.health_check_port;
    let listener = listen(std::net::SocketAddr::new(ip, port)).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another process, or another runtime in this one, has it; deployment.health_check_port: 0 picks a free port)"
        } else {
            ""
        };
        Error::Start(format!("admin server: cannot listen on {ip}:{port}: {e}{hint}"))
    })?;
    let counters = tree.admin_connections.clone();
    let server = server::serve(
        listener,
        d.admin_limits.clone(),
        web::Data::new(tree.clone()),
        counters,
    )
    .map_err(|e| Error::Start(format!("admin server: {e}")))?;
    tracing::info!(addr = %server.addr(), "Admin server listening");
    Ok(server)
}
