//! The `watchkeeper` command: check, default-config, and run until SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::get;
use common::process::TempDir;
use watchkeeper::config::{Config, DEFAULT_RON};

const BIN: &str = env!("CARGO_BIN_EXE_watchkeeper");

fn watchkeeper(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_findings_and_the_checklist_with_the_right_exit_status() {
    let (code, out, _) = watchkeeper(&["check", "config/production.ron"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deployment checklist:"));
    assert!(out.contains("[x] Environment set to production"), "{out}");

    let dir = TempDir::new("cli");
    let invalid = dir.path().join("invalid.ron");
    let text = DEFAULT_RON.replace("max_memory_usage_mb: 512", "max_memory_usage_mb: 16");
    std::fs::write(&invalid, &text).unwrap();
    let (code, out, _) = watchkeeper(&["check", invalid.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    // Located where the field is written, as a parse error is.
    let line = text
        .lines()
        .position(|l| l.contains("max_memory_usage_mb: 16"))
        .unwrap()
        + 1;
    let col = text
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("max_memory")
        .unwrap()
        + 1;
    assert!(
        out.contains(&format!(
            "invalid.ron:{line}:{col}: error: memory.max_memory_usage_mb: 16 MB"
        )),
        "{out}"
    );

    let broken = dir.path().join("broken.ron");
    std::fs::write(&broken, DEFAULT_RON.replace("tick: \"1s\"", "tick: 1")).unwrap();
    let (code, _, err) = watchkeeper(&["check", broken.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("broken.ron:") && err.contains("monitoring.tick"),
        "{err}"
    );
}

#[test]
fn default_config_prints_the_embedded_default() {
    let (code, out, _) = watchkeeper(&["default-config"]);
    assert_eq!(code, 0);
    assert_eq!(Config::from_ron(&out).unwrap(), Config::default());
    let (code, out, _) = watchkeeper(&["--help"]);
    assert_eq!(code, 0);
    for command in ["check", "default-config", "run"] {
        assert!(out.contains(command), "{out}");
    }
}

#[test]
fn run_serves_the_admin_endpoints_and_shuts_down_on_sigterm() {
    let dir = TempDir::new("cli-run");
    let file = dir.path().join("run.ron");
    std::fs::write(
        &file,
        DEFAULT_RON.replace("health_check_port: 8080", "health_check_port: 0"),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--config",
            file.to_str().unwrap(),
            "--shutdown-timeout",
            "5s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: std::net::SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(get(addr, "/health/ready").status, 200);
    assert!(get(addr, "/metrics")
        .body
        .contains("watchkeeper_uptime_seconds"));
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        rest.iter().any(|l| l.starts_with("shut down: ")),
        "{rest:?}"
    );
}
