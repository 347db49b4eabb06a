//! Helpers for tests that run the whole runtime as a host would: a fast test configuration, polling
//! until a condition holds, and this process's thread names.

use std::time::Duration;

use watchkeeper::Config;

/// The default configuration with a 20 ms monitor tick and the admin server on a free port.
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.monitoring.tick = Duration::from_millis(20);
    c.deployment.health_check_port = 0;
    c
}

/// Polls `f` every 10 ms until it gives a value; panics naming `what` after 5 s.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: not within 5 s");
}

/// Names of this process's threads (Linux).
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Serves `configure` (a host's routes) on a host's own actix-web server on 127.0.0.1, one
/// worker, while `ask` runs on a blocking thread with the server's address; then stops the server
/// and returns what `ask` returned.
pub fn on_host_server<C, A, T>(configure: C, ask: A) -> T
where
    C: Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
    A: FnOnce(std::net::SocketAddr) -> T + Send + 'static,
    T: Send + 'static,
{
    actix_web::rt::System::new().block_on(async move {
        let server =
            actix_web::HttpServer::new(move || actix_web::App::new().configure(configure.clone()))
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))
                .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        let running = actix_web::rt::spawn(server);
        let answers = actix_web::rt::task::spawn_blocking(move || ask(addr))
            .await
            .unwrap();
        handle.stop(false).await;
        let _ = running.await;
        answers
    })
}
