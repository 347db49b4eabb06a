//! Alertmanager's v2 API, in Alertmanager's own JSON shapes, so `amtool` and anything else that
//! speaks it work against a running runtime:
//!
//! | method and path | answer |
//! | --- | --- |
//! | `GET /api/v2/status` | cluster (disabled), version, the routing tree as Alertmanager's configuration file (then the whole configuration as comments, secrets redacted), uptime |
//! | `GET /api/v2/receivers` | the enabled channels |
//! | `GET /api/v2/alerts` | firing alerts; `filter`, `active`, `silenced`, `inhibited`, `receiver` |
//! | `POST /api/v2/alerts` | alerts from outside into the same pipeline; token |
//! | `GET /api/v2/alerts/groups` | the alerts by route group and receiver |
//! | `GET /api/v2/silences` | every silence kept; `filter` (matchers equal to the silence's own) |
//! | `POST /api/v2/silences` | adds (or, with `id`, changes) a silence; token |
//! | `GET /api/v2/silence/{id}`, `DELETE /api/v2/silence/{id}` | one silence; expire it (token) |
//!
//! Times are RFC 3339 in UTC with milliseconds; fingerprints are Alertmanager's. Handler errors
//! are a JSON string, as Alertmanager answers.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use watchkeeper_actors::alerting::{
    AddSilence, Alert, ExpireSilence, GetAlerts, GetSilences, MatchOp, Matcher, PostAlerts,
    PostedAlert, Route, Silence, SilenceError,
};

use super::am_config::alertmanager_config;
use super::State;

/// The most alerts one response lists (`limit` may ask for fewer).
const MAX_LISTED: usize = 10_000;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A JSON string body, as Alertmanager's handlers answer errors.
fn message(status: StatusCode, text: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(Value::String(text.into()))
}

fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    message(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn matcher_json(m: &Matcher) -> Value {
    json!({
        "name": m.name,
        "value": m.value,
        "isRegex": m.op.is_regex(),
        "isEqual": m.op.is_equal(),
    })
}

/// The query string's parameters, each name with every value it was given.
fn params(req: &HttpRequest) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in req.query_string().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| percent_decode(&s.replace('+', " "));
        out.entry(decode(k)).or_default().push(decode(v));
    }
    out
}

/// `%XX` escapes decoded, byte by byte (a `%` before a multi-byte character is itself).
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A boolean query parameter read as Alertmanager reads it (go-openapi's `ConvertBool`): absent or
/// empty, true (the default of `active`, `silenced` and `inhibited`); otherwise true only for
/// `true`, `1`, `yes`, `y`, `t`, `on`, `ok`, `enabled`, `selected` or `checked` in any case.
fn flag(params: &BTreeMap<String, Vec<String>>, name: &str) -> bool {
    match params.get(name).and_then(|v| v.last()) {
        None => true,
        Some(v) if v.is_empty() => true,
        Some(v) => [
            "true", "1", "yes", "y", "t", "on", "ok", "enabled", "selected", "checked",
        ]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t)),
    }
}

/// A response that ends a request early.
type Refusal = Box<HttpResponse>;

fn refuse(status: StatusCode, text: impl Into<String>) -> Refusal {
    Box::new(message(status, text))
}

/// The most `filter` matchers one request may give.
const MAX_FILTERS: usize = 16;

/// A request's `filter` matchers and its `receiver` expression (matched whole against receiver
/// names).
struct Wanted {
    filters: Vec<Matcher>,
    receiver: Option<Matcher>,
}

/// Compiles the request's matchers on the blocking pool, one request at a time: an expression may
/// take milliseconds to compile (up to the size a matcher may take), which the admin server's own
/// thread, answering everyone, does not spend, and a flood of such requests waits its turn (within
/// `request_timeout`) rather than taking memory at once.
async fn wanted(req: &HttpRequest, receiver: bool) -> Result<Wanted, Refusal> {
    static COMPILING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let mut p = params(req);
    let filters = p.remove("filter").unwrap_or_default();
    if filters.len() > MAX_FILTERS {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_FILTERS} filters, not {}", filters.len()),
        ));
    }
    // The silences' endpoint takes no `receiver`, and ignores one, as Alertmanager does.
    let receiver = p
        .remove("receiver")
        .and_then(|mut v| v.pop())
        .filter(|r| receiver && !r.is_empty());
    if filters.iter().all(|f| !f.contains('~')) && receiver.is_none() {
        // No expression to compile.
        return compile(filters, None).map_err(|e| refuse(StatusCode::BAD_REQUEST, e));
    }
    in_turn(&COMPILING, move || compile(filters, receiver))
        .await
        .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, e))?
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e))
}

/// Runs `f` on the blocking pool once it has one of `turns`, held until `f` returns: a request
/// dropped meanwhile (its `request_timeout` passed) does not give its turn to the next while `f`
/// still runs, so no more run at once than there are turns.
async fn in_turn<T: Send + 'static>(
    turns: &'static tokio::sync::Semaphore,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let turn = turns.acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        f()
    })
    .await
    .map_err(|e| e.to_string())
}

fn compile(filters: Vec<String>, receiver: Option<String>) -> Result<Wanted, String> {
    Ok(Wanted {
        filters: filters
            .iter()
            .map(|f| Matcher::parse(f).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?,
        receiver: receiver
            .map(|r| {
                Matcher::new("receiver", MatchOp::Regex, &r)
                    .map_err(|e| format!("failed to parse receiver param: {e}"))
            })
            .transpose()?,
    })
}

/// Whether the `receiver` parameter picks `channel` of `route`: by the channel's name, or by the
/// name Alertmanager's configuration gives the route's receiver (`pager+log` for two channels, as
/// `amtool config routes` shows it).
fn picks(wanted: &Matcher, route: &Route, channel: &str) -> bool {
    wanted.matches_value(channel)
        || (route.receivers().len() > 1
            && wanted.matches_value(&super::am_config::receiver_name(route.receivers())))
}

/// The receivers (channels of the first tier) of every route `labels` goes to, each once.
fn receivers(tree: &Route, labels: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for route in tree.matching(labels) {
        for r in route.receivers() {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    out
}

fn alert_json(a: &Alert, receivers: &[String], ends: DateTime<Utc>) -> Value {
    let suppressed = !a.silenced_by.is_empty() || !a.inhibited_by.is_empty();
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "fingerprint": format!("{:016x}", a.fingerprint),
        "startsAt": ts(a.fired_at.unwrap_or(a.updated_at)),
        "updatedAt": ts(a.updated_at),
        "endsAt": ts(a.expires_at.unwrap_or(ends)),
        "generatorURL": "",
        "receivers": receivers.iter().map(|r| json!({ "name": r })).collect::<Vec<_>>(),
        "status": {
            "state": if suppressed { "suppressed" } else { "active" },
            "silencedBy": a.silenced_by,
            "inhibitedBy": a.inhibited_by,
            "mutedBy": [],
        },
    })
}

/// The firing alerts as the query asks for them, with their receivers, sorted by fingerprint.
async fn listed(
    state: &State,
    req: &HttpRequest,
    wanted: &Wanted,
) -> Result<Vec<(Alert, Vec<String>)>, Refusal> {
    let tree = state.get_ref();
    let p = params(req);
    let (active, silenced, inhibited) = (
        flag(&p, "active"),
        flag(&p, "silenced"),
        flag(&p, "inhibited"),
    );
    let limit = p
        .get("limit")
        .and_then(|v| v.last())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MAX_LISTED)
        .min(MAX_LISTED);
    let alerts = tree
        .alerting
        .ask(GetAlerts, tree.link.ask_timeout)
        .await
        .map_err(|e| Box::new(unavailable(e)))?;
    let routes = Route::tree(&tree.config.get().alerting);
    let mut out: Vec<(Alert, Vec<String>)> = alerts
        .into_iter()
        .filter(|a| a.state.firing())
        .filter(|a| Matcher::all_match(&wanted.filters, &a.labels))
        .filter(|a| {
            let is_silenced = !a.silenced_by.is_empty();
            let is_inhibited = !a.inhibited_by.is_empty();
            (active || is_silenced || is_inhibited)
                && (silenced || !is_silenced)
                && (inhibited || !is_inhibited)
        })
        .filter(|a| {
            wanted.receiver.as_ref().is_none_or(|re| {
                routes
                    .matching(&a.labels)
                    .iter()
                    .any(|route| route.receivers().iter().any(|c| picks(re, route, c)))
            })
        })
        .map(|a| {
            let r = receivers(&routes, &a.labels);
            (a, r)
        })
        .collect();
    out.sort_by_key(|(a, _)| format!("{:016x}", a.fingerprint));
    out.truncate(limit);
    Ok(out)
}

/// How long a firing alert is reported to last unless evaluated again: four evaluations.
fn horizon(state: &State) -> DateTime<Utc> {
    let every = state.get_ref().config.get().alerting.check_interval * 4;
    Utc::now() + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::minutes(1))
}

pub(super) async fn get_alerts(state: State, req: HttpRequest) -> HttpResponse {
    let wanted = match wanted(&req, true).await {
        Ok(w) => w,
        Err(refusal) => return *refusal,
    };
    match listed(&state, &req, &wanted).await {
        Ok(alerts) => {
            let ends = horizon(&state);
            let body: Vec<Value> = alerts.iter().map(|(a, r)| alert_json(a, r, ends)).collect();
            HttpResponse::Ok().json(body)
        }
        Err(refusal) => *refusal,
    }
}

/// A group's labels and its alerts.
type Group = (BTreeMap<String, String>, Vec<Value>);

pub(super) async fn get_groups(state: State, req: HttpRequest) -> HttpResponse {
    let wanted = match wanted(&req, true).await {
        Ok(w) => w,
        Err(refusal) => return *refusal,
    };
    let alerts = match listed(&state, &req, &wanted).await {
        Ok(alerts) => alerts,
        Err(refusal) => return *refusal,
    };
    // `receiver` picks groups by their own receiver, as in Alertmanager: an alert sent to two
    // receivers is listed in the other's groups only when that one is asked for too.
    let routes = Route::tree(&state.get_ref().config.get().alerting);
    let ends = horizon(&state);
    // One group per route group and receiver, as Alertmanager lists them.
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for (alert, r) in &alerts {
        for route in routes.matching(&alert.labels) {
            for receiver in route.receivers() {
                if wanted
                    .receiver
                    .as_ref()
                    .is_some_and(|w| !picks(w, route, receiver))
                {
                    continue;
                }
                groups
                    .entry((route.group_key(&alert.labels), receiver.clone()))
                    .or_insert_with(|| (route.group_labels(&alert.labels), Vec::new()))
                    .1
                    .push(alert_json(alert, r, ends));
            }
        }
    }
    let body: Vec<Value> = groups
        .into_iter()
        .map(|((_, receiver), (labels, alerts))| {
            json!({
                "labels": labels,
                "receiver": { "name": receiver },
                "routeLabels": {},
                "alerts": alerts,
            })
        })
        .collect();
    HttpResponse::Ok().json(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

/// Year 1 is how Go clients (`amtool alert add`) say "no time given".
fn given(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    t.filter(|t| t.year() > 1)
}

pub(super) async fn post_alerts(state: State, body: web::Json<Vec<PostableAlert>>) -> HttpResponse {
    let tree = state.get_ref();
    let alerts = body
        .into_inner()
        .into_iter()
        .map(|a| PostedAlert {
            labels: a.labels,
            annotations: a.annotations,
            starts_at: given(a.starts_at),
            ends_at: given(a.ends_at),
            generator_url: a.generator_url,
        })
        .collect();
    let msg = PostAlerts {
        alerts,
        resolve_timeout: std::time::Duration::from_secs(300),
    };
    match tree.alerting.ask(msg, tree.link.ask_timeout).await {
        Ok(Ok(())) => HttpResponse::Ok().finish(),
        Ok(Err(errors)) => message(StatusCode::BAD_REQUEST, errors.join("; ")),
        Err(e) => unavailable(e),
    }
}

/// The configuration in Alertmanager's form, made once for each configuration in force (it
/// renders the whole configuration twice over: a flood of status requests rendering it each
/// time held the admin server's thread).
fn original(config: &Arc<crate::Config>) -> Arc<str> {
    thread_local! {
        static MADE: std::cell::RefCell<Option<(Weak<crate::Config>, Arc<str>)>> =
            const { std::cell::RefCell::new(None) };
    }
    MADE.with_borrow_mut(|made| {
        if let Some((of, text)) = made.as_ref() {
            if std::ptr::eq(of.as_ptr(), Arc::as_ptr(config)) && of.strong_count() > 0 {
                return text.clone();
            }
        }
        let text: Arc<str> =
            alertmanager_config(&config.alerting, &config.redacted().to_ron()).into();
        *made = Some((Arc::downgrade(config), text.clone()));
        text
    })
}

pub(super) async fn get_status(state: State) -> HttpResponse {
    let tree = state.get_ref();
    let config = tree.config.get();
    let started = Utc::now()
        - chrono::Duration::from_std(tree.started.elapsed()).unwrap_or(chrono::Duration::zero());
    HttpResponse::Ok().json(json!({
        "cluster": { "status": "disabled", "peers": [] },
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "none (watchkeeper)",
        },
        "config": { "original": &*original(&config) },
        "uptime": ts(started),
    }))
}

pub(super) async fn get_receivers(state: State) -> HttpResponse {
    let names = state.get_ref().config.get().alerting.channels.enabled();
    HttpResponse::Ok().json(
        names
            .iter()
            .map(|n| json!({ "name": n }))
            .collect::<Vec<_>>(),
    )
}

fn silence_json(s: &Silence, now: DateTime<Utc>) -> Value {
    let state = serde_json::to_value(s.state(now)).unwrap_or(Value::Null);
    json!({
        "id": s.id,
        "matchers": s.matchers.iter().map(matcher_json).collect::<Vec<_>>(),
        "startsAt": ts(s.starts_at),
        "endsAt": ts(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "updatedAt": ts(s.updated_at),
        "status": { "state": state },
        "annotations": {},
    })
}

async fn silences(state: &State) -> Result<Vec<Silence>, Refusal> {
    let tree = state.get_ref();
    tree.alerting
        .ask(GetSilences, tree.link.ask_timeout)
        .await
        .map_err(|e| Box::new(unavailable(e)))
}

pub(super) async fn get_silences(state: State, req: HttpRequest) -> HttpResponse {
    let wanted = match wanted(&req, false).await {
        Ok(w) => w.filters,
        Err(refusal) => return *refusal,
    };
    let mut all = match silences(&state).await {
        Ok(s) => s,
        Err(refusal) => return *refusal,
    };
    // Alertmanager's filter: the silence has each of these matchers itself.
    all.retain(|s| wanted.iter().all(|w| s.matchers.contains(w)));
    let now = Utc::now();
    // Active first (soonest end first), then pending (soonest start), then expired (latest end).
    all.sort_by_key(|s| match s.state(now) {
        watchkeeper_actors::alerting::SilenceState::Active => (0, s.ends_at.timestamp_millis()),
        watchkeeper_actors::alerting::SilenceState::Pending => (1, s.starts_at.timestamp_millis()),
        watchkeeper_actors::alerting::SilenceState::Expired => (2, -s.ends_at.timestamp_millis()),
    });
    HttpResponse::Ok().json(all.iter().map(|s| silence_json(s, now)).collect::<Vec<_>>())
}

pub(super) async fn get_silence(state: State, path: web::Path<String>) -> HttpResponse {
    match silences(&state).await {
        Ok(all) => match all.iter().find(|s| s.id == *path) {
            Some(s) => HttpResponse::Ok().json(silence_json(s, Utc::now())),
            None => HttpResponse::NotFound().finish(),
        },
        Err(refusal) => *refusal,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostableMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<PostableMatcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: String,
    comment: String,
}

pub(super) async fn post_silence(state: State, body: web::Json<PostableSilence>) -> HttpResponse {
    let tree = state.get_ref();
    let b = body.into_inner();
    if b.matchers.len() > 64 {
        return message(StatusCode::BAD_REQUEST, "at most 64 matchers");
    }
    let mut matchers = Vec::new();
    for (i, m) in b.matchers.iter().enumerate() {
        match Matcher::new(
            &m.name,
            MatchOp::from_flags(m.is_equal, m.is_regex),
            &m.value,
        ) {
            Ok(m) => matchers.push(m),
            Err(e) => {
                return message(
                    StatusCode::BAD_REQUEST,
                    format!("silence invalid: invalid label matcher {i}: {e}"),
                )
            }
        }
    }
    let silence = Silence {
        id: b.id.unwrap_or_default(),
        matchers,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        created_by: b.created_by,
        comment: b.comment,
        updated_at: Utc::now(),
    };
    match tree
        .alerting
        .ask(AddSilence(silence), tree.link.ask_timeout)
        .await
    {
        Ok(Ok(id)) => {
            super::persist(tree).await;
            HttpResponse::Ok().json(json!({ "silenceID": id }))
        }
        Ok(Err(e @ SilenceError::NotFound(_))) => message(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e)) => message(
            StatusCode::BAD_REQUEST,
            format!("Failed to create silence: {e}"),
        ),
        Err(e) => unavailable(e),
    }
}

pub(super) async fn delete_silence(state: State, path: web::Path<String>) -> HttpResponse {
    let tree = state.get_ref();
    match tree
        .alerting
        .ask(ExpireSilence(path.into_inner()), tree.link.ask_timeout)
        .await
    {
        Ok(Ok(())) => {
            super::persist(tree).await;
            HttpResponse::Ok().finish()
        }
        Ok(Err(e)) => message(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    /// A request dropped while its expression compiles (its `request_timeout` passed) keeps the
    /// turn until the compile ends, so the next compile waits for it.
    #[tokio::test]
    async fn a_compile_holds_its_turn_after_its_request_is_dropped() {
        static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
        let (started_tx, started) = std::sync::mpsc::channel();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn(super::in_turn(&TURNS, move || {
            started_tx.send(()).unwrap();
            finish_rx.recv().unwrap();
        }));
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        // the request gives up; its compile runs on
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        assert_eq!(TURNS.available_permits(), 0);
        let mut second = tokio::spawn(super::in_turn(&TURNS, || 7));
        let waited = tokio::time::timeout(std::time::Duration::from_millis(200), &mut second).await;
        assert!(waited.is_err(), "the second compile waits its turn");
        finish.send(()).unwrap();
        assert_eq!(second.await.unwrap(), Ok(7));
        assert_eq!(TURNS.available_permits(), 1);
    }

    #[test]
    fn percent_escapes_decode_byte_by_byte() {
        assert_eq!(super::percent_decode("a%3D%22x%2By%22"), "a=\"x+y\"");
        // A `%` before a character of more than one byte is itself, not a slice across it.
        assert_eq!(super::percent_decode("%a\u{e9}%"), "%a\u{e9}%");
        assert_eq!(super::percent_decode("%+1"), "%+1");
    }
}
