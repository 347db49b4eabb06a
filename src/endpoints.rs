//! The health endpoints and `/metrics` as plain answers (status, content type, body), so any HTTP
//! server can serve them: the admin server does, [`Runtime::endpoint`] hands them to a host's own
//! server, and [`Runtime::actix_routes`] mounts them on a host's actix-web `App`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use watchkeeper_actors::ChildState;

use crate::error::Error;
use crate::exposition;
use crate::health::{self, HealthStatus};
use crate::runtime::Runtime;
use crate::tree::ActorTree;

/// `application/health+json`, the health endpoints' content type.
pub const HEALTH_JSON: &str = "application/health+json";

/// One of the endpoints a host may serve from its own server.
///
/// # Examples
///
/// ```
/// use watchkeeper::endpoints::Endpoint;
///
/// let scrape = Endpoint::Metrics.negotiate(Some("application/openmetrics-text; version=1.0.0"));
/// assert_eq!(scrape, Endpoint::OpenMetrics);
/// assert_eq!(Endpoint::Health.negotiate(None), Endpoint::Health);
/// assert!(Endpoint::ALL.contains(&(Endpoint::Ready, "/health/ready")));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/health/live`: 200 while the process answers; depends on nothing else.
    Live,
    /// `/health/ready`: 200 when every actor runs, the root has not escalated and no critical
    /// dependency check fails; else 503.
    Ready,
    /// `/health`: the health report, status pass/warn/fail; 200, or 503 on fail.
    Health,
    /// `/metrics`: the Prometheus text exposition (404 with `deployment.metrics_enabled` off).
    Metrics,
    /// `/metrics` in OpenMetrics, with exemplars (what an `Accept:
    /// application/openmetrics-text` asks for).
    OpenMetrics,
}

impl Endpoint {
    /// `self`, or for `/metrics` the format the request's `Accept` header asks for.
    pub fn negotiate(self, accept: Option<&str>) -> Endpoint {
        match (self, exposition::Format::negotiate(accept)) {
            (Endpoint::Metrics, exposition::Format::OpenMetrics) => Endpoint::OpenMetrics,
            _ => self,
        }
    }

    /// Every endpoint, with the path the admin server serves it on.
    pub const ALL: [(Endpoint, &'static str); 4] = [
        (Endpoint::Live, "/health/live"),
        (Endpoint::Ready, "/health/ready"),
        (Endpoint::Health, "/health"),
        (Endpoint::Metrics, "/metrics"),
    ];
}

/// What an endpoint answers.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// use watchkeeper::endpoints::{Endpoint, HEALTH_JSON};
///
/// let answer = rt.endpoint_blocking(Endpoint::Live)?;
/// assert_eq!((answer.status, answer.content_type), (200, HEALTH_JSON));
/// assert_eq!(answer.body, r#"{"status":"pass"}"#);
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Answer {
    fn health(ok: bool, body: serde_json::Value) -> Answer {
        Answer {
            status: if ok { 200 } else { 503 },
            content_type: HEALTH_JSON,
            body: body.to_string(),
        }
    }
}

/// Answers `endpoint`; must run on the runtime's own thread.
pub(crate) async fn answer(tree: Arc<ActorTree>, endpoint: Endpoint) -> Answer {
    match endpoint {
        Endpoint::Live => live(),
        Endpoint::Ready => ready(&tree).await,
        Endpoint::Health => health_report(tree).await,
        Endpoint::Metrics => metrics(&tree, exposition::Format::Prometheus).await,
        Endpoint::OpenMetrics => metrics(&tree, exposition::Format::OpenMetrics).await,
    }
}

async fn ready(tree: &ActorTree) -> Answer {
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
    Answer::health(
        ready,
        json!({
            "status": if ready { "pass" } else { "fail" },
            "not_running": not_running,
            "escalated": escalated,
            "failing_checks": failing,
        }),
    )
}

async fn health_report(tree: Arc<ActorTree>) -> Answer {
    let report = health::assemble(tree).await;
    let status = match report.status {
        HealthStatus::Healthy => "pass",
        HealthStatus::Warning => "warn",
        HealthStatus::Critical => "fail",
    };
    let checks = draft_checks(&report);
    Answer::health(
        report.status != HealthStatus::Critical,
        json!({
            "status": status,
            "description": "watchkeeper runtime",
            "notes": report.issues,
            "checks": checks,
            "details": report,
        }),
    )
}

/// The dependency checks as the health check response format's `checks` object has them: each
/// under `{name}:responseTime`, an array of one measurement (its latency in seconds, its status,
/// when it ran, its error while it fails); a critical one that fails is `fail`, another `warn`;
/// one not run yet is `warn` too. The saved state is `storage:lastWrite` (the seconds since it
/// last reached the disk; `warn` while writes fail). The process's uptime is `uptime`.
fn draft_checks(report: &health::SystemHealthReport) -> serde_json::Value {
    let mut checks = serde_json::Map::new();
    for c in &report.checks {
        let status = match (c.up, c.critical) {
            (Some(true), _) => "pass",
            (Some(false), true) => "fail",
            _ => "warn",
        };
        let mut entry = json!({
            "componentId": c.name,
            "componentType": "component",
            "observedValue": c.latency.map(|l| l.as_secs_f64()),
            "observedUnit": "s",
            "status": status,
            "time": c.checked_at,
        });
        let output = match c.up {
            Some(false) => c.last_error.clone(),
            None => Some("not checked yet".to_owned()),
            Some(true) => None,
        };
        if let Some(output) = output {
            entry["output"] = json!(output);
        }
        checks.insert(format!("{}:responseTime", c.name), json!([entry]));
    }
    if let Some(s) = &report.storage {
        let mut entry = json!({
            "componentId": s.path.display().to_string(),
            "componentType": "datastore",
            "observedValue": s.last_written_at.map(|t| (report.generated_at - t).num_milliseconds().max(0) as f64 / 1000.0),
            "observedUnit": "s",
            "status": if s.failing_since.is_some() { "warn" } else { "pass" },
            "time": s.last_written_at,
        });
        if let Some(e) = &s.last_error {
            entry["output"] = json!(e);
        }
        checks.insert("storage:lastWrite".to_owned(), json!([entry]));
    }
    checks.insert(
        "uptime".to_owned(),
        json!([{
            "componentType": "system",
            "observedValue": report.uptime.as_secs_f64(),
            "observedUnit": "s",
            "status": "pass",
            "time": report.generated_at,
        }]),
    );
    serde_json::Value::Object(checks)
}

async fn metrics(tree: &ActorTree, format: exposition::Format) -> Answer {
    if !tree.config.get().deployment.metrics_enabled {
        return Answer {
            status: 404,
            content_type: "application/json",
            body: json!({ "error": "metrics are disabled" }).to_string(),
        };
    }
    Answer {
        status: 200,
        content_type: format.content_type(),
        body: exposition::render(&exposition::snapshot(tree).await, format),
    }
}

impl Runtime {
    /// What `endpoint` answers now, for a host that serves it from its own HTTP server (any
    /// server, any async runtime: the answer is gathered on the runtime's own thread).
    ///
    /// ```no_run
    /// # async fn serve(rt: &watchkeeper::Runtime) -> Result<(), watchkeeper::Error> {
    /// use watchkeeper::endpoints::Endpoint;
    /// let answer = rt.endpoint(Endpoint::Metrics).await?;
    /// // respond with answer.status, answer.content_type and answer.body
    /// # Ok(()) }
    /// ```
    pub async fn endpoint(&self, endpoint: Endpoint) -> Result<Answer, Error> {
        let tree = self.tree().clone();
        self.tree()
            .link
            .run(async move { answer(tree, endpoint).await })
            .await
    }

    /// [`Runtime::endpoint`] for synchronous hosts.
    pub fn endpoint_blocking(&self, endpoint: Endpoint) -> Result<Answer, Error> {
        let tree = self.tree().clone();
        let timeout = self.tree().link.ask_timeout * 2;
        self.tree()
            .link
            .run_blocking(async move { answer(tree, endpoint).await }, timeout)
    }

    /// `/metrics`, `/health`, `/health/live` and `/health/ready` for a host's own actix-web
    /// `App` (or a scope of it), answered as the admin server answers them, `HEAD` included:
    ///
    /// ```no_run
    /// # fn host(rt: std::sync::Arc<watchkeeper::Runtime>) -> std::io::Result<()> {
    /// let routes = rt.actix_routes();
    /// let server = actix_web::HttpServer::new(move || {
    ///     actix_web::App::new().configure(routes.clone())
    /// });
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "admin")]
    pub fn actix_routes(
        &self,
    ) -> impl Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + Sync + 'static {
        let tree = self.tree().clone();
        move |cfg: &mut actix_web::web::ServiceConfig| {
            for (endpoint, path) in Endpoint::ALL {
                let tree = tree.clone();
                cfg.route(
                    path,
                    crate::admin::read().to(move |req: actix_web::HttpRequest| {
                        mounted(tree.clone(), endpoint.negotiate(accept(&req)))
                    }),
                );
            }
        }
    }
}

/// How long a `/health` answer serves later HTTP requests: a flood of them (the report of 1,000
/// monitors is hundreds of KB) is answered from one gathering, not each by its own on the
/// runtime's thread, where the probes are answered too.
const HEALTH_FRESH: Duration = Duration::from_millis(250);

/// Answers `endpoint` for an HTTP request: `/health` from the last answer while it is younger
/// than [`HEALTH_FRESH`], or while a newer one is being gathered; the rest as [`answer`] does.
/// Must run on the runtime's own thread.
#[cfg(feature = "admin")]
pub(crate) async fn answer_http(tree: Arc<ActorTree>, endpoint: Endpoint) -> Answer {
    if endpoint != Endpoint::Health {
        return answer(tree, endpoint).await;
    }
    use std::sync::atomic::Ordering;
    if let Some((at, last)) = crate::tree::locked(&tree.health_cache).as_ref() {
        if at.elapsed() < HEALTH_FRESH || tree.health_refreshing.load(Ordering::Relaxed) {
            return last.clone();
        }
    }
    /// Lowers the flag however the gathering ends (a client gone drops it halfway).
    struct Refreshing<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Refreshing<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    tree.health_refreshing.store(true, Ordering::Relaxed);
    let _refreshing = Refreshing(&tree.health_refreshing);
    let fresh = health_report(tree.clone()).await;
    *crate::tree::locked(&tree.health_cache) = Some((Instant::now(), fresh.clone()));
    fresh
}

/// One endpoint on a host's actix-web server: gathered on the runtime's own thread, within the ask
/// timeout (a runtime thread held up by a stuck handler answers 503 then, as the admin server
/// does); `/health/live` at once, as it depends on nothing.
#[cfg(feature = "admin")]
async fn mounted(tree: Arc<ActorTree>, endpoint: Endpoint) -> actix_web::HttpResponse {
    if endpoint == Endpoint::Live {
        return to_response(live());
    }
    let link = tree.link.clone();
    let within = link.ask_timeout;
    let answered = tokio::time::timeout(
        within,
        link.run(async move { answer_http(tree, endpoint).await }),
    );
    match answered.await {
        Ok(Ok(a)) => to_response(a),
        Ok(Err(e)) => {
            actix_web::HttpResponse::ServiceUnavailable().json(json!({ "error": e.to_string() }))
        }
        Err(_) => actix_web::HttpResponse::ServiceUnavailable().json(json!({
            "error": format!("the runtime did not answer within {within:?}")
        })),
    }
}

/// `/health/live`: the process answers.
fn live() -> Answer {
    Answer::health(true, json!({ "status": "pass" }))
}

/// The request's `Accept` header.
#[cfg(feature = "admin")]
pub(crate) fn accept(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
}

/// An answer as actix-web's response.
#[cfg(feature = "admin")]
pub(crate) fn to_response(a: Answer) -> actix_web::HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(a.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    // The health answers are current (`/health` within a quarter second): a cache may keep one a
    // second at most, as the health check format asks of them.
    let fresh_for = if a.content_type == HEALTH_JSON {
        "max-age=1"
    } else {
        "no-store"
    };
    actix_web::HttpResponse::build(status)
        .content_type(a.content_type)
        .insert_header((actix_web::http::header::CACHE_CONTROL, fresh_for))
        .body(a.body)
}
