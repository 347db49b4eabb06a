//! How a check runs: a TCP connect, an HTTP/1.1 `GET` over a plain connection, or the host's own
//! function. Each gets the configured timeout; what went wrong is kept as text.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::config::ProbeTarget;

/// A check the host registers: it resolves to `Ok(())` when the dependency is usable.
pub type CheckFn = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync + 'static,
>;

/// Where a configured check connects, and what it asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The HTTP path and query, for HTTP checks.
    pub(crate) path: Option<String>,
}

fn host_port(text: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || text.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("`{p}` in `{text}` is not a port"))?;
            (h.trim_start_matches('[').trim_end_matches(']'), port)
        }
        _ => (
            text,
            default_port.ok_or_else(|| format!("`{text}` lacks a port (host:port)"))?,
        ),
    };
    if host.is_empty() {
        return Err(format!("`{text}` lacks a host"));
    }
    Ok((host.to_owned(), port))
}

/// Checks a target's address.
pub(crate) fn parse_target(target: &ProbeTarget) -> Result<Parsed, String> {
    match target {
        ProbeTarget::Tcp(addr) => {
            let (host, port) = host_port(addr, None)?;
            Ok(Parsed {
                host,
                port,
                path: None,
            })
        }
        ProbeTarget::Http(url) => {
            let rest = url.strip_prefix("http://").ok_or_else(|| {
                format!("`{url}`: only http:// URLs can be probed here; check an https:// service with Runtime::register_check")
            })?;
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if let Some(at) = authority.rfind('@') {
                // Said without the login: this error is shown where the URL must not be.
                return Err(format!(
                    "`http://***@{}{path}`: a probe URL cannot carry a login (the probe sends none, \
                     and its errors are shown on /health); probe an endpoint that needs none, or \
                     check it with Runtime::register_check",
                    &authority[at + 1..]
                ));
            }
            let (host, port) = host_port(authority, Some(80))?;
            Ok(Parsed {
                host,
                port,
                path: Some(path.to_owned()),
            })
        }
    }
}

/// Runs a configured check within `timeout`.
pub(crate) async fn run(target: Parsed, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, attempt(&target)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn attempt(target: &Parsed) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connecting to {}:{}: {e}", target.host, target.port))?;
    let Some(path) = &target.path else {
        return Ok(());
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: watchkeeper-probe\r\nConnection: close\r\n\r\n",
        target.host, target.port
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    // The status line is all that is read: at most 1 KiB.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", truncate(line)))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// One registered check's runs: whether one is under way, and the current-thread runtime they
/// run on, made at the first and kept, so that what a check keeps from one run to the next (a
/// pooled connection, its tasks, a timer) stays on a runtime that is still there.
#[derive(Default)]
pub(crate) struct Runs {
    busy: AtomicBool,
    runtime: std::sync::OnceLock<Result<Own, String>>,
}

/// A runtime that may be dropped anywhere: in an async context a runtime's own drop panics, so
/// it is shut down in the background instead.
struct Own(Option<tokio::runtime::Runtime>);

impl Drop for Own {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Runs {
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, String> {
        let own = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|r| Own(Some(r)))
                .map_err(|e| format!("the check cannot run: {e}"))
        });
        match own {
            Ok(Own(Some(runtime))) => Ok(runtime),
            Ok(Own(None)) => Err("the check's runtime is gone".to_owned()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Runs a registered check within `timeout`; a panic in it is a failure.
///
/// Unless `inline`, it runs on a thread of the blocking pool, on the check's own current-thread
/// runtime ([`Runs`]), which drives its timers and sockets there: a check that blocks (on the file
/// system, in a synchronous driver) holds up neither the runtime's thread nor the other checks,
/// and is reported as failed at its timeout; a shutdown while it awaits takes nothing from under
/// it (on the actor system's runtime, its timer went with that runtime and it panicked inside
/// tokio, which ends a host built with `panic = "abort"`). A check that awaits past its timeout is
/// cancelled there; one that blocks cannot be, and until it returns the next rounds report it as
/// still running rather than start it again, so a stuck dependency holds one thread (and a
/// shutdown waits for it). `inline` runs it on the calling thread instead, as a paused clock
/// needs: there the blocking pool would hold the clock still.
pub(crate) async fn run_registered(
    check: CheckFn,
    timeout: Duration,
    runs: Arc<Runs>,
    inline: bool,
) -> Result<(), String> {
    use futures_util::FutureExt;
    let late = || format!("no answer within {timeout:?}");
    if inline {
        let fut = std::panic::AssertUnwindSafe(async move { check().await }).catch_unwind();
        return match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => Err(panicked(&*panic)),
            Err(_) => Err(late()),
        };
    }
    if runs.busy.swap(true, Ordering::AcqRel) {
        return Err(format!(
            "an earlier run is still going, past the {timeout:?} timeout"
        ));
    }
    let task = tokio::task::spawn_blocking(move || {
        let outcome = match runs.runtime() {
            Ok(own) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // Made inside, so that its timer is the check's runtime's, not the one of the
                // blocking pool's thread.
                own.block_on(async move { tokio::time::timeout(timeout, check()).await })
            }))
            .unwrap_or_else(|panic| Ok(Err(panicked(&*panic)))),
            Err(e) => Ok(Err(e)),
        };
        runs.busy.store(false, Ordering::Release);
        outcome
    });
    // The check's own timeout cancels one that awaits, and lowers `busy` as it does; this one,
    // a little later, only gives up on one that blocks. Were they equal, a round could end
    // before the cancelled check lowered `busy`, and the next round would find it still going.
    let grace = (timeout / 4).min(Duration::from_millis(250));
    match tokio::time::timeout(timeout + grace, task).await {
        Ok(Ok(Ok(outcome))) => outcome,
        Ok(Ok(Err(_))) | Err(_) => Err(late()),
        Ok(Err(e)) => Err(format!("the check did not finish: {e}")),
    }
}

/// What a check's panic said, as its failure.
fn panicked(panic: &(dyn std::any::Any + Send)) -> String {
    let said = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    match said {
        Some(said) => format!("the check panicked: {said}"),
        None => "the check panicked".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_say_why_not() {
        let p = parse_target(&ProbeTarget::Http(
            "http://127.0.0.1:9200/_health?x=1".into(),
        ))
        .unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.path.as_deref()),
            ("127.0.0.1", 9200, Some("/_health?x=1"))
        );
        let p = parse_target(&ProbeTarget::Http("http://db.local".into())).unwrap();
        assert_eq!((p.port, p.path.as_deref()), (80, Some("/")));
        let p = parse_target(&ProbeTarget::Tcp("[::1]:5432".into())).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 5432));
        assert!(parse_target(&ProbeTarget::Tcp("db".into()))
            .unwrap_err()
            .contains("lacks a port"));
        assert!(parse_target(&ProbeTarget::Http("https://x".into()))
            .unwrap_err()
            .contains("register_check"));
        assert!(parse_target(&ProbeTarget::Tcp("db:99999".into()))
            .unwrap_err()
            .contains("not a port"));
    }
}
