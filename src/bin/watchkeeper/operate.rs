//! The operator commands: they talk to a running instance's admin server (its Alertmanager API
//! and its own endpoints) and print what it answers.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use watchkeeper::actors::alerting::Matcher;

use crate::client::Admin;

/// Writes a line to stdout; a closed pipe ends the output quietly.
macro_rules! say {
    ($($arg:tt)*) => {
        let _ = writeln!(std::io::stdout(), $($arg)*);
    };
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::from(1)
}

/// The command line's matchers, as amtool reads them: a first one without an operator names the
/// alert (`SearchLatencyHigh` is `alertname="SearchLatencyHigh"`). One that does not parse is a
/// usage error (exit 2), like any other bad argument.
fn matchers(args: &[String]) -> Result<Vec<Matcher>, ExitCode> {
    args.iter()
        .enumerate()
        .map(|(i, m)| {
            if i == 0 && !m.contains(['=', '~']) {
                return Ok(Matcher::equal("alertname", m));
            }
            Matcher::parse(m).map_err(|e| {
                let _ = writeln!(std::io::stderr(), "`{m}`: {e}");
                ExitCode::from(2)
            })
        })
        .collect()
}

/// What the server said when it refused, as one line.
fn refused(status: u16, body: &str) -> String {
    let text = serde_json::from_str::<Value>(body)
        .ok()
        .map(|v| match v {
            Value::String(s) => s,
            Value::Object(o) => o
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| Value::Object(o).to_string()),
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.trim().to_owned());
    let hint = if status == 401 {
        " (give --token, or set WATCHKEEPER_TOKEN)"
    } else {
        ""
    };
    format!("the admin server answered {status}: {text}{hint}")
}

fn column(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_owned()
}

/// `watchkeeper alerts`: the firing alerts.
pub fn alerts(admin: &Admin, as_json: bool) -> ExitCode {
    let r = match admin.request("GET", "/api/v2/alerts", None) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if r.status != 200 {
        return fail(refused(r.status, &r.body));
    }
    let alerts = match r.json() {
        Ok(Value::Array(a)) => a,
        Ok(other) => return fail(format!("unexpected answer: {other}")),
        Err(e) => return fail(e),
    };
    if as_json {
        say!("{}", Value::Array(alerts));
        return ExitCode::SUCCESS;
    }
    say!(
        "{:<16}  {:<28}  {:<8}  {:<10}  {:<24}  SUMMARY",
        "FINGERPRINT",
        "ALERTNAME",
        "SEVERITY",
        "STATE",
        "STARTS AT"
    );
    for a in &alerts {
        say!(
            "{:<16}  {:<28}  {:<8}  {:<10}  {:<24}  {}",
            column(a, "fingerprint"),
            column(&a["labels"], "alertname"),
            column(&a["labels"], "severity"),
            column(&a["status"], "state"),
            column(a, "startsAt"),
            column(&a["annotations"], "summary")
        );
    }
    ExitCode::SUCCESS
}

/// `watchkeeper silence add`: a silence of `matchers` for `duration`; prints its id.
pub fn silence_add(
    admin: &Admin,
    matchers: &[String],
    comment: &str,
    duration: Duration,
    author: &str,
) -> ExitCode {
    let parsed = match self::matchers(matchers) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    if parsed.is_empty() {
        return fail("a silence needs at least one matcher, e.g. alertname=\"SearchLatencyHigh\"");
    }
    let now = chrono::Utc::now();
    let Ok(span) = chrono::Duration::from_std(duration) else {
        return fail("the duration is too long");
    };
    let body = json!({
        "matchers": parsed.iter().map(|m| json!({
            "name": m.name,
            "value": m.value,
            "isRegex": m.op.is_regex(),
            "isEqual": m.op.is_equal(),
        })).collect::<Vec<_>>(),
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + span).to_rfc3339(),
        "createdBy": author,
        "comment": comment,
    });
    match admin.request("POST", "/api/v2/silences", Some(&body)) {
        Ok(r) if r.status == 200 => match r.json() {
            Ok(v) => {
                say!("{}", column(&v, "silenceID"));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Ok(r) => fail(refused(r.status, &r.body)),
        Err(e) => fail(e),
    }
}

/// `watchkeeper silence query`: silences not yet ended (or ended ones with `expired`), optionally
/// those with every one of `matchers`.
pub fn silence_query(admin: &Admin, matchers: &[String], expired: bool) -> ExitCode {
    let parsed = match self::matchers(matchers) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let mut path = "/api/v2/silences".to_owned();
    for (i, m) in parsed.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str("filter=");
        path.push_str(&encode(&m.to_string()));
    }
    let r = match admin.request("GET", &path, None) {
        Ok(r) if r.status == 200 => r,
        Ok(r) => return fail(refused(r.status, &r.body)),
        Err(e) => return fail(e),
    };
    let silences = match r.json() {
        Ok(Value::Array(s)) => s,
        Ok(other) => return fail(format!("unexpected answer: {other}")),
        Err(e) => return fail(e),
    };
    say!(
        "{:<36}  {:<8}  {:<24}  {:<12}  {:<40}  COMMENT",
        "ID",
        "STATE",
        "ENDS AT",
        "CREATED BY",
        "MATCHERS"
    );
    for s in silences {
        let state = column(&s["status"], "state");
        if (state == "expired") != expired {
            continue;
        }
        let matchers: Vec<String> = s["matchers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let op = match (
                    m["isEqual"].as_bool() != Some(false),
                    m["isRegex"].as_bool() == Some(true),
                ) {
                    (true, false) => "=",
                    (false, false) => "!=",
                    (true, true) => "=~",
                    (false, true) => "!~",
                };
                format!("{}{op}{:?}", column(m, "name"), column(m, "value"))
            })
            .collect();
        say!(
            "{:<36}  {:<8}  {:<24}  {:<12}  {:<40}  {}",
            column(&s, "id"),
            state,
            column(&s, "endsAt"),
            column(&s, "createdBy"),
            matchers.join(","),
            column(&s, "comment")
        );
    }
    ExitCode::SUCCESS
}

/// `watchkeeper silence expire`: ends each silence now.
pub fn silence_expire(admin: &Admin, ids: &[String]) -> ExitCode {
    for id in ids {
        match admin.request("DELETE", &format!("/api/v2/silence/{}", encode(id)), None) {
            Ok(r) if r.status == 200 => {
                say!("expired {id}");
            }
            Ok(r) => return fail(format!("{id}: {}", refused(r.status, &r.body))),
            Err(e) => return fail(e),
        }
    }
    ExitCode::SUCCESS
}

/// `watchkeeper ack`: acknowledges a firing alert, which stops its escalation.
pub fn ack(admin: &Admin, fingerprint: &str, by: &str) -> ExitCode {
    let body = json!({ "by": by });
    match admin.request(
        "POST",
        &format!("/alerts/{}/acknowledge", encode(fingerprint)),
        Some(&body),
    ) {
        Ok(r) if r.status == 200 => {
            say!("acknowledged {fingerprint} as {by}");
            ExitCode::SUCCESS
        }
        Ok(r) => fail(refused(r.status, &r.body)),
        Err(e) => fail(e),
    }
}

/// `watchkeeper notify-test`: a test notification through one channel, and how it went.
pub fn notify_test(admin: &Admin, channel: &str) -> ExitCode {
    match admin.request("POST", &format!("/channels/{}/test", encode(channel)), None) {
        Ok(r) if r.status == 200 || r.status == 502 => match r.json() {
            Ok(v) => {
                let attempts = v["attempts"].as_u64().unwrap_or(0);
                if r.status == 200 {
                    say!("delivered to {channel} after {attempts} attempt(s)");
                    ExitCode::SUCCESS
                } else {
                    fail(format!(
                        "not delivered to {channel} after {attempts} attempt(s): {}",
                        column(&v, "error")
                    ))
                }
            }
            Err(e) => fail(e),
        },
        Ok(r) => fail(refused(r.status, &r.body)),
        Err(e) => fail(e),
    }
}

/// Percent-encodes a path segment or query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
