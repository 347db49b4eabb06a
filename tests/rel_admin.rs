//! The admin server under attack, from outside and without the token, against a real
//! `watchkeeper run` on 127.0.0.1: 20,000 connections that send a partial request and hold on,
//! bodies that trickle in a byte at a time or never end, and a flood of silences. Throughout, a
//! probe asks `/health/live` every 20 ms; it must keep answering fast (never two probes in a row
//! unanswered, at most one in a hundred), and afterwards the process's
//! resident memory and descriptors must be back near where they started.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::{get, request};
use common::instance::Instance;

const TOKEN: &str = "s3cret-admin";

fn config(extra: &str) -> String {
    format!(
        r#"(
    monitoring: (monitors: ["search"]),
    alerting: (silences: (max: 200)),
    deployment: (
        health_check_port: 0,
        admin_token: Value("{TOKEN}"),
        admin_limits: (max_connections: 128, request_timeout: "2s", keep_alive: "2s"),
        {extra}
    ),
)"#
    )
}

/// Asks `/health/live` every 20 ms until stopped; records each answer's latency (or a failure).
struct Probe {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Option<Duration>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    fn start(addr: SocketAddr) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let samples: Arc<Mutex<Vec<Option<Duration>>>> = Arc::default();
        let (halt, out) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            // At most ten minutes, whatever happens to the test.
            let until = Instant::now() + Duration::from_secs(600);
            while !halt.load(Ordering::Relaxed) && Instant::now() < until {
                let t = Instant::now();
                let ok = live(addr);
                out.lock().unwrap().push(ok.then(|| t.elapsed()));
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Probe {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops it; returns (answers, failures, the slowest answer, the 95th percentile). A failure is
    /// what a liveness checker with a failure threshold of two acts on: two probes in a row
    /// unanswered. A single unanswered probe (a connection the flood's eviction reached before its
    /// answer) is allowed in at most one probe of a hundred.
    fn finish(mut self) -> (usize, usize, Duration, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let samples = self.samples.lock().unwrap();
        let mut ok: Vec<Duration> = samples.iter().flatten().copied().collect();
        ok.sort();
        let single = samples.len() - ok.len();
        assert!(
            single * 100 <= samples.len(),
            "{single} of {} probes unanswered",
            samples.len()
        );
        let failed = samples
            .windows(2)
            .filter(|w| w[0].is_none() && w[1].is_none())
            .count();
        let max = ok.last().copied().unwrap_or_default();
        let p95 = ok
            .get((ok.len() * 95 / 100).min(ok.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default();
        (ok.len(), failed, max, p95)
    }
}

/// One `GET /health/live` on a new connection, answered 200 within a second.
fn live(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.1 200"))
}

/// The partial requests an attacker leaves hanging.
const PARTIAL: [&[u8]; 4] = [
    // Headers that never end.
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    // A body shorter than its Content-Length.
    b"POST /api/v2/silences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"matchers\": [",
    // A chunked body without its last chunk.
    b"POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[{\"labels\": {}},\r\n",
    // Nothing at all.
    b"",
];

fn settle(instance: &Instance) -> (u64, usize) {
    // A few ordinary requests first, so that what the server allocates for serving is counted in
    // the starting figure.
    for _ in 0..20 {
        assert_eq!(get(instance.addr, "/health").status, 200);
        assert_eq!(get(instance.addr, "/metrics").status, 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    (instance.resident_bytes(), instance.open_fds())
}

#[test]
fn an_idle_admin_server_wakes_no_thread() {
    let instance = Instance::start("idle", &config(""));
    // Served once, so that what serving starts has started; the connection is closed after.
    assert!(live(instance.addr));
    std::thread::sleep(Duration::from_millis(500));
    let before = instance.thread_wakeups();
    std::thread::sleep(Duration::from_secs(3));
    let after = instance.thread_wakeups();
    let woke: Vec<(String, u64)> = after
        .iter()
        .map(|(name, n)| {
            let was = before.iter().find(|(b, _)| b == name).map_or(0, |b| b.1);
            (name.clone(), n - was)
        })
        .collect();
    // Of the arbiters, only the watchdog's wakes: twice a second, once a check (a kernel timer;
    // Tokio's wheel would wake it twice a check). The admin server's sleeps until a connection
    // comes (actix-http's `Date` timer, which would wake it twice a second, lives only while a
    // connection does).
    let arbiters: Vec<u64> = woke
        .iter()
        .filter(|(name, _)| name.starts_with("actix-rt"))
        .map(|(_, n)| *n)
        .collect();
    let awake = arbiters.iter().filter(|&&n| n > 3).count();
    assert_eq!(awake, 1, "wake-ups in 3 idle seconds: {woke:?}");
    // Six checks in 3 s, a wake-up each; one that finds a call in progress checks again 50 ms
    // later, so a few more may come.
    assert!(
        arbiters.iter().all(|&n| n <= 9),
        "the watchdog checks 6 times in 3 s, a wake-up each: {woke:?}"
    );
    assert!(live(instance.addr), "served again after the idle stretch");
}

#[test]
fn twenty_thousand_held_connections_do_not_take_the_admin_server_down() {
    let instance = Instance::start("admin-flood", &config(""));
    let (rss_before, fds_before) = settle(&instance);
    let probe = Probe::start(instance.addr);

    // 20,000 connections, each with a partial request; the attacker holds up to 8,000 at once
    // (its own descriptor limit), closing its oldest beyond that.
    let started = Instant::now();
    let mut held: std::collections::VecDeque<TcpStream> = Default::default();
    let mut connected = 0;
    let mut refused = 0;
    for i in 0..20_000 {
        match TcpStream::connect_timeout(&instance.addr, Duration::from_secs(2)) {
            Ok(mut s) => {
                connected += 1;
                let _ = s.write_all(PARTIAL[i % PARTIAL.len()]);
                held.push_back(s);
                if held.len() > 8_000 {
                    held.pop_front();
                }
            }
            Err(_) => refused += 1,
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the flood took too long"
        );
    }
    // The connections still waiting to be accepted (up to the listen backlog) are taken in first.
    std::thread::sleep(Duration::from_millis(500));
    let fds_during = instance.open_fds();
    let rss_during = instance.resident_bytes();
    // The server closed all but its cap of them: reading the held ones finds them closed.
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => closed += 1,
            Ok(_) => {
                // Answered (e.g. 408) and then closed.
                if s.read(&mut buf).is_ok_and(|n| n == 0) {
                    closed += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    drop(held);
    let (answers, failures, max, p95) = probe.finish();
    let metrics = get(instance.addr, "/metrics").body;
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = instance.resident_bytes();
    let fds_after = instance.open_fds();
    eprintln!(
        "flood: {connected} connected, {refused} refused in {:?}; server held {fds_during} fds \
         (before {fds_before}, after {fds_after}); resident {} -> {} -> {} MiB; probe {answers} \
         answers, {failures} failed, p95 {p95:?}, max {max:?}; {closed} of 8000 held closed by the server",
        started.elapsed(),
        rss_before >> 20,
        rss_during >> 20,
        rss_after >> 20,
    );
    assert_eq!(connected, 20_000, "every connection was accepted");
    assert_eq!(failures, 0, "/health/live failed during the flood");
    assert!(answers > 10, "the probe ran");
    assert!(p95 <= Duration::from_millis(100), "p95 {p95:?}");
    assert!(max <= Duration::from_secs(1), "max {max:?}");
    assert!(
        fds_during <= fds_before + 128 + 16,
        "the server held {fds_during} descriptors (cap 128)"
    );
    assert!(closed >= 8_000 - 128 - 16, "{closed} of 8000 closed");
    assert!(
        rss_during <= rss_before + (64 << 20),
        "resident memory grew from {rss_before} to {rss_during}"
    );
    assert!(
        rss_after <= rss_before + (32 << 20),
        "resident memory stayed at {rss_after} (from {rss_before})"
    );
    assert!(fds_after <= fds_before + 8, "{fds_after} descriptors left");
    let evicted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("watchkeeper_admin_connections_evicted_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(evicted >= 19_000, "evicted {evicted}");
}

#[test]
fn slow_and_endless_bodies_are_cut_off_at_the_request_timeout() {
    let instance = Instance::start("admin-slow", &config(""));
    let probe = Probe::start(instance.addr);
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let mut attackers = Vec::new();
    for i in 0..40 {
        let addr = instance.addr;
        let auth = auth.clone();
        attackers.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let head = if i % 2 == 0 {
                format!("POST /api/v2/silences HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
            } else {
                format!("POST /api/v2/silences HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            };
            s.write_all(head.as_bytes()).unwrap();
            let started = Instant::now();
            // A byte every 100 ms, for at most 20 s: the server must end it long before.
            let mut answer = Vec::new();
            while started.elapsed() < Duration::from_secs(20) {
                let byte: &[u8] = if i % 2 == 0 { b" " } else { b"1\r\n \r\n" };
                if s.write_all(byte).is_err() {
                    break;
                }
                let mut buf = [0u8; 512];
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (started.elapsed(), String::from_utf8_lossy(&answer).into_owned())
        }));
    }
    for a in attackers {
        let (took, answer) = a.join().unwrap();
        assert!(
            took < Duration::from_secs(4),
            "a trickling body was held for {took:?}"
        );
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let (answers, failures, max, p95) = probe.finish();
    eprintln!("slow bodies: probe {answers} answers, {failures} failed, p95 {p95:?}, max {max:?}");
    assert_eq!(failures, 0);
    assert!(p95 <= Duration::from_millis(100), "p95 {p95:?}");
}

#[test]
fn a_flood_of_silences_is_capped_and_lists_stay_bounded() {
    let instance = Instance::start("admin-silences", &config(""));
    let (rss_before, _) = settle(&instance);
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let ends = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let starts = chrono::Utc::now().to_rfc3339();
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..2_000 {
        let body = format!(
            r#"{{"matchers": [{{"name": "alertname", "value": "Flood{i}{}", "isRegex": false, "isEqual": true}}], "startsAt": "{starts}", "endsAt": "{ends}", "createdBy": "x", "comment": "{}"}}"#,
            "x".repeat(200),
            "y".repeat(2000)
        );
        match request(
            instance.addr,
            "POST",
            "/api/v2/silences",
            &headers,
            body.as_bytes(),
        )
        .status
        {
            200 => accepted += 1,
            400 | 409 | 429 | 507 => refused += 1,
            other => panic!("answered {other}"),
        }
    }
    assert_eq!(accepted, 200, "silences.max is 200");
    assert_eq!(refused, 1_800);
    // A silence that would mute everything is refused, as Alertmanager refuses it.
    let everything = format!(
        r#"{{"matchers": [{{"name": "alertname", "value": "", "isRegex": false, "isEqual": false}}], "startsAt": "{starts}", "endsAt": "{ends}", "createdBy": "x", "comment": "all"}}"#
    );
    assert_eq!(
        request(
            instance.addr,
            "POST",
            "/api/v2/silences",
            &headers,
            everything.as_bytes()
        )
        .status,
        400
    );
    // Lists answer in pages: /alerts shows at most its limit of silences per request.
    let page = get(instance.addr, "/alerts?limit=50");
    assert_eq!(page.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(doc["silences"].as_array().unwrap().len(), 50);
    assert_eq!(doc["total_silences"], 200);
    let big = get(instance.addr, "/alerts?limit=100000");
    assert!(
        big.body.len() < 2 << 20,
        "/alerts is {} bytes",
        big.body.len()
    );
    // Six parallel full listings cost little.
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let addr = instance.addr;
            std::thread::spawn(move || get(addr, "/api/v2/silences").body.len())
        })
        .collect();
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss_after = instance.resident_bytes();
    eprintln!(
        "silence flood: {accepted} accepted, {refused} refused; resident {} -> {} MiB; /alerts at the largest page {} bytes",
        rss_before >> 20,
        rss_after >> 20,
        big.body.len()
    );
    assert!(
        rss_after <= rss_before + (64 << 20),
        "resident memory went from {rss_before} to {rss_after}"
    );
}

/// Sends `request` on `s` and reads the head of its answer.
fn ask(s: &mut TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).unwrap();
    read_answers(s, 1).remove(0)
}

/// The heads of the next `n` answers on `s`, each once its body is in (a head saying the
/// connection ended where it ends before them).
fn read_answers(s: &mut TcpStream, n: usize) -> Vec<String> {
    let (mut read, mut heads) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    while heads.len() < n {
        if let Some((head, body, length)) = answer_head(&read) {
            if read.len() >= body + length {
                read.drain(..body + length);
                heads.push(head);
                continue;
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {
                heads.push(format!("connection ended: {read:?}"));
                break;
            }
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    }
    heads
}

/// The head of the answer at the start of `read` (lowercased), where its body starts, and its
/// `Content-Length` (0 without one); `None` until the whole head is there.
fn answer_head(read: &[u8]) -> Option<(String, usize, usize)> {
    let end = read.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&read[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    Some((head, end + 4, length))
}

/// Sends `requests` on one connection in a single write and reads until `answers` answers have
/// come (or the connection ends): the status of each, in order.
fn pipeline(addr: SocketAddr, requests: &[u8], answers: usize) -> Vec<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let requests = requests.to_vec();
        std::thread::spawn(move || s.write_all(&requests))
    };
    let statuses = read_answers(&mut s, answers)
        .iter()
        .filter(|head| !head.starts_with("connection ended"))
        .map(|head| head[9..12].parse().unwrap())
        .collect();
    writer.join().unwrap().unwrap();
    statuses
}

#[test]
fn pipelined_requests_are_read_one_at_a_time_and_answered_in_order() {
    let instance = Instance::start("admin-pipelining", &config(""));
    // Bodies of both framings, with empty lines inside them and values padded with blanks, between
    // requests without one: each is answered, in order, and none waits for the request timeout.
    let body = "{\"matchers\": \"\r\n\r\n\r\n\"}";
    let mixed = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /api/v2/silences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}\
         GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding:{pad}chunked\r\n\r\n6\r\n\r\n\r\n\r\n\r\n{zeros}2\r\n[]\r\n0\r\n\r\n",
        body.len(),
        pad = " ".repeat(60),
        zeros = "0".repeat(70),
    )
    .repeat(20);
    let started = Instant::now();
    let statuses = pipeline(instance.addr, mixed.as_bytes(), 80);
    let expected: Vec<u16> = [200, 401, 404, 401].repeat(20);
    assert_eq!(statuses, expected);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Two connections each pipeline 3,000 requests in one write. Decoded all at once, they took
    // 18 MiB a connection, which stayed with the process. One of them starts with a length padded
    // with blanks, which once made the connection stop counting what it read.
    let (rss_before, _) = settle(&instance);
    let plain = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
    let padded = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length:{}0\r\n\r\n",
        " ".repeat(60)
    );
    let clients: Vec<_> = [plain.to_vec(), padded.into_bytes()]
        .into_iter()
        .map(|first| {
            let flood = [first, plain.repeat(2_999)].concat();
            let addr = instance.addr;
            std::thread::spawn(move || pipeline(addr, &flood, 3_000))
        })
        .collect();
    for client in clients {
        let statuses = client.join().unwrap();
        assert_eq!(statuses.len(), 3_000);
        assert!(statuses.iter().all(|s| *s == 200));
    }
    let rss_after = instance.resident_bytes();
    eprintln!(
        "pipelining: resident {} -> {} KiB",
        rss_before >> 10,
        rss_after >> 10
    );
    assert!(
        rss_after <= rss_before + (6 << 20),
        "resident memory grew from {rss_before} to {rss_after}"
    );
}

/// Pipelined requests are each answered as they asked, whatever follows them: a `HEAD`, an
/// HTTP/1.0 request or a `Connection: close` behind a request whose answer takes a while (health,
/// metrics) leaves that answer's body, version and connection alone. actix-http frames every answer
/// by the last request it decoded, so with requests read ahead the `HEAD` takes the body off the
/// health answer before it (its `Content-Length` kept), the HTTP/1.0 request relabels the metrics
/// answer before it, and the `close` labels every answer before it. An empty line after a request
/// does not keep its connection open past `keep_alive`.
#[test]
fn pipelined_answers_are_each_framed_by_their_own_request() {
    let instance = Instance::start("admin-pipelined-framing", &config(""));
    let requests = [
        ("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", true),
        ("HEAD /health/live HTTP/1.1\r\nHost: x\r\n\r\n", false),
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (
            "GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            true,
        ),
        ("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (
            "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            true,
        ),
    ];
    let mut s = TcpStream::connect(instance.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The first health answer is assembled from the actors (nothing is cached yet at start), so
    // it is still pending when the requests after it arrive.
    let all: String = requests.iter().map(|(r, _)| *r).collect();
    s.write_all(all.as_bytes()).unwrap();
    // The last request closes the connection, so its end is the end of the answers.
    let mut read = Vec::new();
    s.read_to_end(&mut read).unwrap();
    let mut answers = Vec::new();
    let mut rest = &read[..];
    for (request, has_body) in requests {
        let (head, start, length) = answer_head(rest).unwrap_or_else(|| {
            panic!(
                "no answer to {request:?} after {answers:?}: {:?}",
                String::from_utf8_lossy(rest)
            )
        });
        let body_length = if has_body { length } else { 0 };
        assert!(rest.len() >= start + body_length, "{head}");
        let body = String::from_utf8_lossy(&rest[start..start + body_length]).into_owned();
        rest = &rest[start + body_length..];
        let status_line = head.lines().next().unwrap().to_owned();
        let close = head.lines().any(|l| l == "connection: close");
        answers.push((status_line, length > 0, body.chars().next(), close));
    }
    assert!(
        rest.is_empty(),
        "bytes past the answers: {:?}",
        String::from_utf8_lossy(rest)
    );
    let lines: Vec<&str> = answers.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        lines,
        [
            "http/1.1 200 ok",
            "http/1.1 200 ok",
            "http/1.1 200 ok",
            "http/1.0 200 ok",
            "http/1.1 200 ok",
            "http/1.1 200 ok"
        ],
        "{answers:?}"
    );
    // health and metrics carry their bodies; the HEAD answer says a length and sends none (a body
    // after it would stand where the next answer's status line is read)
    assert_eq!(answers[0].2, Some('{'), "{answers:?}");
    assert!(answers[1].1, "{answers:?}");
    assert_eq!(answers[2].2, Some('#'), "{answers:?}");
    assert_eq!(answers[4].2, Some('{'), "{answers:?}");
    let closing: Vec<bool> = answers.iter().map(|a| a.3).collect();
    assert_eq!(closing, [false, false, false, false, false, true]);

    // A request refused before its body is read (no token) leaves the connection open when the
    // body came with its head: the next request, sent after a pause, is answered on it.
    let body = "[]";
    let refused = format!(
        "POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(instance.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let first = ask(&mut s, &refused);
    assert!(first.starts_with("http/1.1 401"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    let second = ask(&mut s, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(second.starts_with("http/1.1 200"), "{second}");

    // Requests longer than the connection reads ahead at once (512 bytes), in one write: a head
    // of 1.5 kB, a refused body of 3 kB, and a request after them, each answered in turn.
    let long_head = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(1500)
    );
    let long_body = format!(
        "POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 3000\r\n\r\n{}",
        " ".repeat(3000)
    );
    s.write_all(
        format!("{long_head}{long_body}GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let status: Vec<String> = read_answers(&mut s, 3)
        .iter()
        .map(|head| head.lines().next().unwrap().to_owned())
        .collect();
    assert_eq!(
        status,
        [
            "http/1.1 200 ok",
            "http/1.1 401 unauthorized",
            "http/1.1 200 ok"
        ]
    );
    // An empty line after a request (which clients may send) is passed over: the idle connection
    // is closed after `keep_alive` (2 s here) as any other.
    let third = ask(&mut s, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n\r\n");
    assert!(third.starts_with("http/1.1 200"), "{third}");
    let idle = Instant::now();
    let mut rest = Vec::new();
    let ended = s.read_to_end(&mut rest);
    assert!(
        ended.is_ok() && idle.elapsed() < Duration::from_secs(6),
        "{ended:?} after {:?}",
        idle.elapsed()
    );
    // the empty line had no answer
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn a_request_that_asks_to_send_its_body_is_refused_first_without_the_token() {
    let instance = Instance::start("admin-expect", &config(""));
    // What the server answers a head that asks `Expect: 100-continue`, before any body is sent.
    let first_answer = |authorization: &str| {
        let mut s = TcpStream::connect(instance.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "POST /api/v2/silences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 4000\r\nExpect: 100-continue\r\n{authorization}\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    for refused in ["", "Authorization: Bearer wrong\r\n"] {
        let answer = first_answer(refused);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{refused:?}: {answer:?}"
        );
        assert!(!answer.contains("100 Continue"), "{answer:?}");
    }
    let answer = first_answer(&format!("Authorization: Bearer {TOKEN}\r\n"));
    assert!(answer.starts_with("HTTP/1.1 100 Continue"), "{answer:?}");
}

#[test]
fn a_request_being_answered_outlives_a_flood_of_idle_connections() {
    let instance = Instance::start("admin-evict", &config(""));
    // An operator's request, its head and half its body sent; then more idle connections than the
    // cap of 128, each of which closes another one.
    let mut operator = TcpStream::connect(instance.addr).unwrap();
    operator
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Length: 2\r\n\r\n["
    );
    operator.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(instance.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    operator.write_all(b"]").unwrap();
    let mut buf = [0u8; 256];
    let n = operator.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // The idle ones made room for each other: all but the cap's worth are closed.
    let closed = idle
        .into_iter()
        .filter(|mut s| {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            match s.read(&mut buf) {
                Ok(n) => n == 0,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        })
        .count();
    assert!(
        closed >= 200 - 128,
        "{closed} of 200 idle connections closed"
    );
}
