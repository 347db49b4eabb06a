//! Alerts delivered to a webhook: the example starts a local HTTP receiver on 127.0.0.1, a runtime
//! whose webhook channel points at it, records a latency breach, and prints the Alertmanager-format
//! (version 4) payloads the receiver gets — firing, then resolved.
//!
//! `cargo run --example webhook_alerts`

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use watchkeeper::config::Secret;
use watchkeeper::{Config, Runtime};

/// A receiver that answers 200 and hands each request body to `tx`, for 60 s at most.
fn receiver(tx: mpsc::Sender<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 16384];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + len {
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        let _ = tx.send(text[end + 4..].to_string());
                        break;
                    }
                }
            }
        }
    });
    url
}

fn main() {
    let (tx, rx) = mpsc::channel();
    let url = receiver(tx);
    let mut config =
        Config::from_ron(include_str!("../config/demo.ron")).expect("the demo configuration");
    config.deployment.admin_enabled = false;
    config.alerting.channels.webhook.enabled = true;
    config.alerting.channels.webhook.url = Some(Secret::Value(url.clone()));
    config.alerting.escalation.tiers = vec![vec!["log".into(), "webhook".into()]];
    let rt = Runtime::start(config).expect("runtime starts");
    println!("webhook receiver on {url}");
    let search = rt.monitor("search").expect("a monitor");

    println!("recording slow queries (p99 over the 100 ms warning threshold) ...");
    let start = Instant::now();
    let mut statuses = Vec::new();
    while start.elapsed() < Duration::from_secs(40) && statuses.len() < 2 {
        let slow = statuses.is_empty();
        for _ in 0..20 {
            search.record_query(Duration::from_millis(if slow { 150 } else { 2 }));
        }
        std::thread::sleep(Duration::from_millis(50));
        while let Ok(body) = rx.try_recv() {
            let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            println!(
                "\nreceived ({:.1} s):\n{}",
                start.elapsed().as_secs_f64(),
                serde_json::to_string_pretty(&doc).unwrap_or(body)
            );
            statuses.push(doc["status"].as_str().unwrap_or("").to_owned());
            if slow {
                println!("\nthe queries are fast again; waiting for the resolved notice ...");
            }
        }
    }
    println!("\nwebhook statuses received: {statuses:?}");
    let _ = rt.shutdown_blocking(Duration::from_secs(5));
}
