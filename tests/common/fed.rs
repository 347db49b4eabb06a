//! A runtime with something to show, for the tests of the status page and `watchkeeper top`:
//! two monitors fed by a recording thread, a latency rule that fires, an alert posted from outside
//! whose label and summary are markup, and one restart of the `index` monitor.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use watchkeeper::{Config, Runtime};

use super::http::{get, request};

/// The admin token of the fed runtime.
pub const TOKEN: &str = "status-page-token";

/// A label value and summary that must show as text, never as markup.
pub const MARKUP: &str = "<script>alert(1)</script>";

/// The recording thread gives up by itself after this long, whatever the test does.
const FEED_AT_MOST: Duration = Duration::from_secs(60);

pub struct Fed {
    pub rt: Option<Runtime>,
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    feeder: Option<JoinHandle<()>>,
}

impl Drop for Fed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
        if let Some(rt) = self.rt.take() {
            let _ = rt.shutdown_blocking(Duration::from_secs(5));
        }
    }
}

fn health(addr: SocketAddr) -> serde_json::Value {
    serde_json::from_str(&get(addr, "/health").body).unwrap_or_default()
}

/// Polls `f` every 50 ms until it gives a value; panics naming `what` after `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the runtime and feeds it; returns once the rule fires, the posted alert is listed, the
/// `index` monitor has restarted once and both monitors have a few intervals of samples.
pub fn start() -> Fed {
    let config = Config::from_ron(&format!(
        r#"(
    monitoring: (tick: "100ms", window: 100),
    alerting: (
        check_interval: "100ms", group_wait: "0s",
        rules: [(name: "SearchLatencyHigh", monitor: "search", metric: p99, warning: 0.002,
                 for: "200ms", labels: {{"team": "search"}},
                 annotations: {{"summary": "search p99 latency is {{value}}s (threshold {{threshold}}s)"}})],
    ),
    deployment: (health_check_port: 0, admin_token: Value("{TOKEN}")),
)"#
    ))
    .unwrap();
    let rt = Runtime::start(config).unwrap();
    let addr = rt.admin_addr().unwrap();
    let search = rt.monitor("search").unwrap();
    let index = rt.monitor("index").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut noise = super::noise(18);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < FEED_AT_MOST {
                i += 1;
                // Search: about 1.2 ms with a slow tail that breaches the 2 ms rule; index:
                // about 6 ms, slower for a while every few seconds.
                let wave = ((started.elapsed().as_secs_f64() / 3.0).sin() + 1.0) * 0.5;
                let q =
                    1_200.0 + 400.0 * noise() + if i.is_multiple_of(50) { 4_000.0 } else { 0.0 };
                search.record_query(Duration::from_micros(q as u64));
                if i.is_multiple_of(4) {
                    let ix = 6_000.0 + 3_000.0 * wave + 1_500.0 * noise();
                    index.record_index(Duration::from_micros(ix as u64));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let fed = Fed {
        rt: Some(rt),
        addr,
        stop,
        feeder: Some(feeder),
    };

    let body = serde_json::json!([{
        "labels": {"alertname": "MarkupInLabels", "severity": "critical", "note": MARKUP},
        "annotations": {"summary": format!("{MARKUP} in a summary")},
    }])
    .to_string();
    let auth = format!("Bearer {TOKEN}");
    let posted = request(
        addr,
        "POST",
        "/api/v2/alerts",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        body.as_bytes(),
    );
    assert_eq!(posted.status, 200, "{}", posted.body);

    let _ = fed
        .rt
        .as_ref()
        .unwrap()
        .monitor("index")
        .unwrap()
        .actor()
        .tell(watchkeeper::actors::harness::InjectPanic);
    wait_for(
        "a restart of `index`, both alerts firing, samples in both monitors",
        Duration::from_secs(20),
        || {
            let h = health(addr);
            let index = h["details"]["supervision"]["children"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "index")?
                .clone();
            let alerts = h["details"]["alerting"]["active_alerts"].as_u64()?;
            let ops = |name: &str| {
                h["details"]["monitors"]
                    .as_array()
                    .and_then(|m| m.iter().find(|m| m["name"] == name))
                    .and_then(|m| m["total_operations"].as_u64())
                    .unwrap_or(0)
            };
            (index["restarts"] == 1
                && index["state"] == "running"
                && alerts >= 2
                && ops("search") > 500
                && ops("index") > 100)
                .then_some(())
        },
    );
    fed
}
