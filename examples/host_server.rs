//! A host with an HTTP server of its own (actix-web) that serves watchkeeper's `/metrics` and
//! health endpoints beside its own routes, with no admin server of watchkeeper's, records each of
//! its requests, and shuts everything down cleanly.
//!
//!     cargo run --example host_server -- [--port 8088] [--duration 10s]
//!
//! Then `curl http://127.0.0.1:8088/sort?n=100000` (the host's own work, timed) and
//! `curl http://127.0.0.1:8088/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use watchkeeper::{Config, MonitorHandle, Runtime};

/// The host's own endpoint: sorts `n` pseudo-random numbers and says how long it took.
async fn sort(
    query: web::Query<std::collections::HashMap<String, String>>,
    monitor: web::Data<MonitorHandle>,
) -> HttpResponse {
    let n: usize = query
        .get("n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
        .min(10_000_000);
    let kind = monitor.kind("sort").unwrap_or(watchkeeper::OpKind::QUERY);
    let started = Instant::now();
    let mut values: Vec<u64> = (0..n as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    values.sort_unstable();
    let took = started.elapsed();
    monitor.record(kind, took);
    HttpResponse::Ok().body(format!("sorted {n} values in {took:?}\n"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 8088u16;
    let mut duration = Duration::from_secs(10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--duration" => {
                let text = args.next().ok_or("--duration needs a value")?;
                duration = watchkeeper::actors::duration_serde::parse(&text)?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut config = Config::default();
    config.deployment.admin_enabled = false;
    let rt = Arc::new(Runtime::start(config)?);
    let monitor = rt.monitor("http")?;
    let routes = rt.actix_routes();

    let shared = rt.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(monitor.clone()))
                .route("/sort", web::get().to(sort))
                .configure(routes.clone())
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run();
        let handle = server.handle();
        let running = actix_web::rt::spawn(server);
        println!("serving http://127.0.0.1:{port}/sort and /metrics for {duration:?}");
        actix_web::rt::time::sleep(duration).await;
        handle.stop(true).await;
        let _ = running.await;
        // The runtime is shared with the server's workers; any holder may stop it.
        let report = shared.shutdown(Duration::from_secs(5)).await?;
        println!("stopped {} actors", report.children.len());
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
