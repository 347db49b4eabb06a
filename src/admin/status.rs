//! The status page and the JSON it is drawn from:
//!
//! | method and path | answer |
//! | --- | --- |
//! | `GET /` | the status page (HTML; script and style are the two files below) |
//! | `GET /assets/status.js`, `GET /assets/status.css` | its script and style sheet |
//! | `GET /api/status` | one document with everything the page shows: the health report, the active alerts, every monitor's history |
//! | `GET /api/history` | every monitor's rolling window, interval by interval (per kind: count, rate, p50/p99/p99.9) |
//! | `GET /monitors/{name}/history` | one monitor's; 404 for an unknown monitor |
//!
//! The page and its assets are compiled into the binary: nothing is fetched from anywhere else, at
//! build or at run time. Every answer here carries a Content-Security-Policy that allows only this
//! server's own script, style and requests (no inline script or style, no framing), with
//! `X-Content-Type-Options: nosniff`. The page polls `/api/status` at most once a second and builds
//! its DOM with `textContent` only, so label values never become markup. Its buttons post to the
//! token-guarded endpoints (`/alerts/{fingerprint}/acknowledge`, `/api/v2/silences`) with the
//! token the operator types in, kept in the tab's memory or `sessionStorage`.

use actix_web::http::header;
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use watchkeeper_actors::alerting::{Alert, AlertState, GetAlerts};
use watchkeeper_actors::monitor::{GetHistory, MonitorHistory};

use super::{error, read, State};
use crate::health::{self, SystemHealthReport};
use crate::tree::ActorTree;

const PAGE: &str = include_str!("assets/status.html");
const SCRIPT: &str = include_str!("assets/status.js");
const STYLE: &str = include_str!("assets/status.css");

/// Only this server's own files and requests; nothing inline, never inside a frame.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The most alerts one `/api/status` lists (firing first); `alerts.total` says how many there are.
const ALERTS_LISTED: usize = 200;

/// The alert events (state changes, deliveries) each listed alert carries, the latest.
const EVENTS_LISTED: usize = 5;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", read().to(page))
        .route("/assets/status.js", read().to(script))
        .route("/assets/status.css", read().to(style))
        .route("/api/status", read().to(status))
        .route("/api/history", read().to(history))
        .route("/monitors/{name}/history", read().to(monitor_history));
}

/// A response with the page's security headers.
fn secured(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    builder
}

async fn page() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

async fn script() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type("text/javascript; charset=utf-8")
        .body(SCRIPT)
}

async fn style() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type("text/css; charset=utf-8")
        .body(STYLE)
}

/// Every monitor's history, all asked at once; a monitor that does not answer in time is left
/// out (the health report names it).
async fn histories(tree: &ActorTree) -> Vec<MonitorHistory> {
    let timeout = tree.link.ask_timeout;
    let handles = tree.handles();
    futures_util::future::join_all(handles.iter().map(|h| h.actor().ask(GetHistory, timeout)))
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}

/// The alerts that are not over: how many, and the first of them.
#[derive(Serialize)]
struct AlertList {
    total: usize,
    items: Vec<Alert>,
}

/// What `/api/status` answers.
#[derive(Serialize)]
struct StatusDocument {
    health: SystemHealthReport,
    /// `None` (null) when the alerting actor did not answer.
    alerts: Option<AlertList>,
    history: Vec<MonitorHistory>,
}

/// The alerts that are not over, firing first, then pending, each with its latest events.
async fn active_alerts(tree: &ActorTree) -> Option<AlertList> {
    let mut alerts = tree
        .alerting
        .ask(GetAlerts, tree.link.ask_timeout)
        .await
        .ok()?;
    alerts.retain(|a| a.state != AlertState::Resolved);
    alerts.sort_by_key(|a| {
        (
            !a.state.firing(),
            std::cmp::Reverse(a.severity),
            a.fired_at,
            a.fingerprint,
        )
    });
    let total = alerts.len();
    alerts.truncate(ALERTS_LISTED);
    for a in &mut alerts {
        let drop = a.events.len().saturating_sub(EVENTS_LISTED);
        a.events.drain(..drop);
    }
    Some(AlertList {
        total,
        items: alerts,
    })
}

/// Everything the status page shows, in one answer: `health` (the report `/health` details),
/// `alerts` (`total` and `items`, `null` when the alerting actor does not answer) and `history`.
async fn status(state: State) -> HttpResponse {
    let tree = state.get_ref();
    let (health, alerts, history) = futures_util::join!(
        health::assemble(tree.clone()),
        active_alerts(tree),
        histories(tree),
    );
    secured(HttpResponse::Ok()).json(StatusDocument {
        health,
        alerts,
        history,
    })
}

async fn history(state: State) -> HttpResponse {
    secured(HttpResponse::Ok()).json(histories(state.get_ref()).await)
}

async fn monitor_history(state: State, path: web::Path<String>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let tree = state.get_ref();
    let Some(handle) = tree.handle(path.as_str()) else {
        return error(StatusCode::NOT_FOUND, format!("no monitor named `{path}`"));
    };
    match handle.actor().ask(GetHistory, tree.link.ask_timeout).await {
        Ok(history) => secured(HttpResponse::Ok()).json(history),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
