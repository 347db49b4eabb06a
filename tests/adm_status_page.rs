//! The status page: its headers and files, the history endpoints, and the page itself loaded by a
//! real headless Chromium from a runtime this test feeds. Assertions read the rendered DOM.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::fed::{self, MARKUP};
use common::http::{get, request};
use common::process::{require, TempDir};

#[test]
fn the_page_and_its_files_are_served_under_a_strict_policy() {
    let fed = fed::start();
    let addr = fed.addr;
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let csp = &page.headers["content-security-policy"];
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    // Nothing inline for the policy to refuse, nothing from elsewhere.
    let html = &page.body;
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains(r#"<script src="/assets/status.js" defer></script>"#));
    assert!(
        !html.contains("style=") && !html.contains("<style"),
        "{html}"
    );
    assert!(!html.contains("http://") && !html.contains("https://"));

    let js = get(addr, "/assets/status.js");
    assert_eq!(js.status, 200);
    assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(js.headers["x-content-type-options"], "nosniff");
    assert!(
        !js.body.contains("innerHTML") && !js.body.contains("insertAdjacentHTML"),
        "the script builds the DOM from text only"
    );
    let css = get(addr, "/assets/status.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    let head = request(addr, "HEAD", "/", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn history_has_every_interval_of_the_window_per_monitor_and_kind() {
    let fed = fed::start();
    let addr = fed.addr;
    let all: serde_json::Value = serde_json::from_str(&get(addr, "/api/history").body).unwrap();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["monitor"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"search") && names.contains(&"index"),
        "{all}"
    );

    let one = get(addr, "/monitors/search/history");
    assert_eq!(one.status, 200);
    let h: serde_json::Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(h["tick_seconds"], 0.1);
    assert_eq!(h["window_intervals"], 100);
    let query = h["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "query")
        .unwrap();
    let intervals = query["intervals"].as_array().unwrap();
    assert!(intervals.len() >= 5 && intervals.len() <= 100, "{h}");
    // Oldest first, each ending where the next began.
    for pair in intervals.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let a_end = a["ago_seconds"].as_f64().unwrap();
        let b_end = b["ago_seconds"].as_f64().unwrap();
        let b_len = b["duration_seconds"].as_f64().unwrap();
        assert!((a_end - (b_end + b_len)).abs() < 1e-6, "{a} then {b}");
    }
    let counted: u64 = intervals.iter().map(|i| i["count"].as_u64().unwrap()).sum();
    assert!(counted > 0);
    let busy = intervals
        .iter()
        .find(|i| i["count"].as_u64().unwrap() > 20)
        .unwrap();
    let (p50, p99, p999) = (
        busy["p50_seconds"].as_f64().unwrap(),
        busy["p99_seconds"].as_f64().unwrap(),
        busy["p999_seconds"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0005 && p50 < 0.003, "{busy}");
    assert!(p50 <= p99 && p99 <= p999, "{busy}");
    let rate = busy["per_second"].as_f64().unwrap();
    let expected = busy["count"].as_f64().unwrap() / busy["duration_seconds"].as_f64().unwrap();
    assert!((rate - expected).abs() < 1e-6 * expected.max(1.0), "{busy}");
    // An interval without operations has no quantiles, not zeros.
    let idle: serde_json::Value =
        serde_json::from_str(&get(addr, "/monitors/index/history").body).unwrap();
    let query_of_index = idle["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "query")
        .unwrap();
    assert_eq!(query_of_index["total"], 0);
    assert!(query_of_index["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["count"] == 0 && i["p50_seconds"].is_null()));

    assert_eq!(get(addr, "/monitors/nothing/history").status, 404);
    let status: serde_json::Value = serde_json::from_str(&get(addr, "/api/status").body).unwrap();
    assert!(status["health"]["score"].is_u64(), "{status}");
    assert!(status["alerts"]["total"].as_u64().unwrap() >= 2, "{status}");
    assert_eq!(status["history"].as_array().unwrap().len(), names.len());
}

/// Runs Chromium headless with `args`, killed if it takes longer than a minute.
fn chromium(profile: &Path, args: &[String]) -> Output {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The attributes of every `<tag ...>` in `html` (attribute values as serialized, entities kept).
fn tags(html: &str, tag: &str) -> Vec<Vec<(String, String)>> {
    let open = format!("<{tag} ");
    html.match_indices(&open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            let inside = &rest[..rest.find('>').unwrap_or(rest.len())];
            let mut attrs = Vec::new();
            let mut s = inside;
            while let Some(eq) = s.find("=\"") {
                let name = s[..eq].trim().to_owned();
                let after = &s[eq + 2..];
                let end = after.find('"').unwrap_or(after.len());
                attrs.push((name, after[..end].to_owned()));
                s = &after[(end + 1).min(after.len())..];
            }
            attrs
        })
        .collect()
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The text of the element that starts at the first `<tr ` carrying `marker` up to its `</tr>`.
fn row<'a>(html: &'a str, marker: &str) -> Option<&'a str> {
    let at = html.find(marker)?;
    let start = html[..at].rfind("<tr")?;
    let end = at + html[at..].find("</tr>")?;
    Some(&html[start..end])
}

#[test]
fn chromium_renders_charts_alerts_as_text_and_the_restart() {
    if !require("chromium", "chromium") {
        return;
    }
    let fed = fed::start();
    let url = format!("http://{}/", fed.addr);
    let profile = TempDir::new("chromium");
    let out = chromium(
        profile.path(),
        &[
            "--virtual-time-budget=4000".into(),
            "--dump-dom".into(),
            url.clone(),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page rendered what it fetched: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every monitor's recorded kind has a latency and a throughput chart with drawn points.
    let charts = tags(&dom, "svg");
    for (monitor, kind) in [("search", "query"), ("index", "index")] {
        for which in ["latency", "throughput"] {
            let chart = charts
                .iter()
                .find(|a| {
                    attr(a, "data-monitor") == Some(monitor)
                        && attr(a, "data-kind") == Some(kind)
                        && attr(a, "data-chart") == Some(which)
                })
                .unwrap_or_else(|| panic!("no {which} chart for {monitor}/{kind}: {dom}"));
            let points: usize = attr(chart, "data-points").unwrap().parse().unwrap();
            assert!(points >= 3, "{which} of {monitor}/{kind}: {points} points");
        }
    }
    let lines = tags(&dom, "path");
    for q in ["p50", "p99", "p999"] {
        assert!(
            lines.iter().any(|a| attr(a, "data-quantile") == Some(q)
                && attr(a, "d").is_some_and(|d| d.matches('L').count() >= 2)),
            "a {q} line is drawn"
        );
    }

    // The alert whose label and summary are markup shows them as text: escaped in the serialized
    // DOM, never an element. The page's own script is the only script element.
    let alert = row(&dom, ">MarkupInLabels<").expect("the posted alert is listed");
    assert!(alert.contains("data-state=\"firing\""), "{alert}");
    assert!(
        alert.contains("note=&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{alert}"
    );
    assert!(
        alert.contains("&lt;script&gt;alert(1)&lt;/script&gt; in a summary"),
        "{alert}"
    );
    assert!(
        !dom.contains(MARKUP),
        "markup from a label became an element"
    );
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(alert.contains(">Acknowledge</button>") && alert.contains(">Silence</button>"));
    // The rule's alert with its evidence.
    let rule = row(&dom, ">SearchLatencyHigh<").expect("the rule's alert is listed");
    assert!(rule.contains("search p99 latency is"), "{rule}");

    // The restart of `index` in the tree, with its failure; the nested notifiers supervisor.
    let index = tags(&dom, "tr")
        .into_iter()
        .find(|a| attr(a, "data-actor") == Some("index"))
        .expect("index in the tree");
    assert_eq!(attr(&index, "data-restarts"), Some("1"));
    assert_eq!(attr(&index, "data-state"), Some("running"));
    let index_row = row(&dom, "data-actor=\"index\"").unwrap();
    assert!(
        index_row.contains("injected fault in `index`"),
        "{index_row}"
    );
    assert!(
        dom.contains("data-actor=\"notifiers\""),
        "nested supervisor shown"
    );
    assert!(dom.contains("data-channel=\"log\""), "channels shown");

    // A screenshot; WATCHKEEPER_SCREENSHOT names where to keep it (docs/status-page.png).
    // For the kept one the charts first fill more of their window.
    let shot: PathBuf = match std::env::var_os("WATCHKEEPER_SCREENSHOT") {
        Some(path) => {
            std::thread::sleep(Duration::from_secs(8));
            PathBuf::from(path)
        }
        None => profile.path().join("status-page.png"),
    };
    let out = chromium(
        profile.path(),
        &[
            "--virtual-time-budget=4000".into(),
            "--window-size=1280,860".into(),
            format!("--screenshot={}", shot.display()),
            url,
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
}

/// Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands in
/// on fd 3, answers out on fd 4, each a JSON message ended by NUL), here the child's stdin and
/// stdout. Killed on drop.
struct DevTools {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    answers: std::sync::mpsc::Receiver<serde_json::Value>,
    next_id: u64,
    session: Option<String>,
    url: String,
}

impl DevTools {
    fn start(profile: &Path) -> DevTools {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec chromium --headless --disable-gpu --no-sandbox --no-first-run \
                 --no-default-browser-check --disable-extensions --disable-dev-shm-usage \
                 --user-data-dir='{}' --remote-debugging-pipe about:blank \
                 3<&0 4>&1 </dev/null >&2",
                profile.display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, answers) = std::sync::mpsc::channel();
        // Ends when Chromium closes its end of the pipe.
        std::thread::spawn(move || {
            use std::io::Read;
            let mut pending = Vec::new();
            let mut buf = [0u8; 65536];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&message[..end]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        DevTools {
            child,
            stdin,
            answers,
            next_id: 1,
            session: None,
            url: String::new(),
        }
    }

    /// Sends one command (to the attached page once there is one) and waits for its result.
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let answer = self.send(method, params);
        assert!(answer["error"].is_null(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Sends one command and waits for its answer, a result or an error.
    fn send(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::Write;
        let id = self.next_id;
        self.next_id += 1;
        let mut message = serde_json::json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = serde_json::Value::String(session.clone());
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        self.stdin.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .answers
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method} within 30 s"));
            if answer["id"] == id {
                return answer;
            }
        }
    }

    /// Opens `url` in a new page and attaches to it.
    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", serde_json::json!({"url": url}));
        let attached = self.call(
            "Target.attachToTarget",
            serde_json::json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        self.url = url.to_owned();
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    fn eval(&mut self, expression: &str) -> serde_json::Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) is truthy in the page, for up to 10 s;
    /// a page still loading (no context to evaluate in yet) is waited for too.
    fn until(&mut self, condition: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = self.send(
                "Runtime.evaluate",
                serde_json::json!({
                    "expression": "location.href + ' ' + document.readyState",
                    "returnByValue": true,
                }),
            );
            let loaded = format!("{} complete", self.url);
            if answer["error"].is_null() && answer["result"]["result"]["value"] == loaded.as_str() {
                break;
            }
            assert!(Instant::now() < deadline, "the page did not load: {answer}");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.eval(&format!(
            "new Promise((resolve, reject) => {{ const t0 = Date.now(); (function check() {{ \
               let v; try {{ v = ({condition}); }} catch (e) {{ v = undefined; }} \
               if (v) resolve(v); \
               else if (Date.now() - t0 > 10000) reject(new Error('not within 10 s: ' + {cond:?})); \
               else setTimeout(check, 50); }})(); }})",
            cond = condition
        ))
    }
}

impl Drop for DevTools {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The row's button, clicked: `action` on the alert named `name`.
fn click(name: &str, action: &str) -> String {
    format!(
        "(() => {{ const row = [...document.querySelectorAll('tr.alert')]\
           .find((r) => r.querySelector('.alertname').textContent === {name:?}); \
         row.querySelector('button[data-action={action}]').click(); \
         return document.getElementById('action').open; }})()"
    )
}

#[test]
fn chromium_acknowledges_and_silences_with_the_token_it_asks_for() {
    if !require("chromium", "chromium") {
        return;
    }
    let fed = fed::start();
    let addr = fed.addr;
    let profile = TempDir::new("devtools");
    let mut browser = DevTools::start(profile.path());
    browser.open(&format!("http://{addr}/"));
    browser.until("document.body.getAttribute('data-loaded') === 'true' && document.querySelectorAll('tr.alert').length >= 2");

    // Acknowledge: the dialog asks for the token; a wrong one is refused and asked again.
    assert_eq!(browser.eval(&click("MarkupInLabels", "acknowledge")), true);
    assert_eq!(
        browser.eval("document.getElementById('token-row').hidden"),
        false
    );
    browser.eval(
        "document.getElementById('token').value = 'wrong'; \
         document.getElementById('who').value = 'ana'; \
         document.getElementById('remember').checked = true; \
         document.getElementById('action-form').requestSubmit()",
    );
    let refused = browser.until("document.getElementById('action-error').textContent");
    assert!(refused.as_str().unwrap().contains("401"), "{refused}");
    assert_eq!(
        browser.eval("sessionStorage.getItem('watchkeeper.token')"),
        serde_json::Value::Null,
        "a refused token is not kept"
    );
    browser.eval(&format!(
        "document.getElementById('token').value = {:?}; \
         document.getElementById('action-form').requestSubmit()",
        fed::TOKEN
    ));
    browser.until("document.getElementById('notice').textContent.startsWith('Acknowledged')");
    assert_eq!(
        browser.eval("document.getElementById('action').open"),
        false
    );
    let alerts: serde_json::Value = serde_json::from_str(&get(addr, "/alerts").body).unwrap();
    let acked = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "MarkupInLabels")
        .unwrap();
    assert_eq!(acked["acknowledged_by"], "ana", "{acked}");
    browser.until(
        "[...document.querySelectorAll('tr.alert')].some((r) => r.textContent.includes('acknowledged by ana'))",
    );
    // Kept for the tab only, as asked; never in localStorage.
    assert_eq!(
        browser.eval("sessionStorage.getItem('watchkeeper.token')"),
        fed::TOKEN
    );
    assert_eq!(browser.eval("localStorage.length"), 0);

    // Silence: the token is not asked again; the silence matches the alert's labels exactly.
    assert_eq!(browser.eval(&click("SearchLatencyHigh", "silence")), true);
    assert_eq!(
        browser.eval("document.getElementById('token-row').hidden"),
        true
    );
    assert_eq!(browser.eval("document.getElementById('who').value"), "ana");
    browser.eval(
        "document.getElementById('duration').value = '14400'; \
         document.getElementById('comment').value = 'looking into it'; \
         document.getElementById('action-form').requestSubmit()",
    );
    browser.until("document.getElementById('notice').textContent.startsWith('Silenced')");
    let silences: serde_json::Value =
        serde_json::from_str(&get(addr, "/api/v2/silences").body).unwrap();
    let silence = silences
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["comment"] == "looking into it")
        .unwrap_or_else(|| panic!("{silences}"));
    assert_eq!(silence["createdBy"], "ana");
    assert_eq!(silence["status"]["state"], "active", "{silence}");
    let matchers = silence["matchers"].as_array().unwrap();
    assert!(matchers
        .iter()
        .all(|m| m["isEqual"] == true && m["isRegex"] == false));
    assert!(matchers
        .iter()
        .any(|m| m["name"] == "alertname" && m["value"] == "SearchLatencyHigh"));
    let starts =
        chrono::DateTime::parse_from_rfc3339(silence["startsAt"].as_str().unwrap()).unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(silence["endsAt"].as_str().unwrap()).unwrap();
    assert!((ends - starts).num_minutes() >= 239 && (ends - starts).num_minutes() <= 241);
    browser.until(
        "[...document.querySelectorAll('tr.alert')].some((r) => r.textContent.includes('SearchLatencyHigh') && r.textContent.includes('silenced'))",
    );
}
