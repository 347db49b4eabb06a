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
