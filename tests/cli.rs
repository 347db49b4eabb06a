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

    // No token, an empty one, one from an unset variable, absurd bounds: each said, with its field.
    let tokens = dir.path().join("tokens.ron");
    for (deployment, code_wanted, said) in [
        (
            "(health_check_port: 0)",
            0,
            "warning: deployment.admin_token: no token",
        ),
        (
            "(health_check_port: 0, admin_token: Value(\" \"))",
            1,
            "error: deployment.admin_token: the token is empty",
        ),
        (
            "(health_check_port: 0, admin_token: Env(\"WK_CLI_TEST_UNSET_TOKEN\"))",
            0,
            "warning: deployment.admin_token: the environment variable WK_CLI_TEST_UNSET_TOKEN is not set",
        ),
        (
            "(health_check_port: 0, admin_token: Value(\"t\")), supervisor: (ask_timeout: \"100000000h\")",
            1,
            "error: supervisor.ask_timeout",
        ),
    ] {
        std::fs::write(&tokens, format!("(deployment: {deployment})")).unwrap();
        let (code, out, err) = watchkeeper(&["check", tokens.to_str().unwrap()]);
        assert_eq!(code, code_wanted, "{deployment}: {out}{err}");
        assert!(out.contains(said), "{deployment}: {out}");
    }

    let broken = dir.path().join("broken.ron");
    std::fs::write(&broken, DEFAULT_RON.replace("tick: \"1s\"", "tick: 1")).unwrap();
    let (code, _, err) = watchkeeper(&["check", broken.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("broken.ron:") && err.contains("monitoring.tick"),
        "{err}"
    );
}

/// `run` refuses what it would only ignore, and names its findings where they are written, as
/// `check` does; `check` takes `--config` as `run` does, and an empty file is said to be one.
#[test]
fn run_names_its_findings_in_the_file_and_refuses_the_operator_flags() {
    let dir = TempDir::new("cli-run");
    let invalid = dir.path().join("invalid.ron");
    std::fs::write(
        &invalid,
        "(\n    alerting: (rules: [(name: \"X\", metric: p99, monitor: \"search\", warning: 0.5, critical: 0.1)]),\n)",
    )
    .unwrap();
    let (code, _, err) =
        watchkeeper(&["run", "--config", invalid.to_str().unwrap(), "--ephemeral"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("invalid.ron:2:") && err.contains("alerting.rules[0].warning"),
        "{err}"
    );
    let (code, out, _) = watchkeeper(&["check", "--config", invalid.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("invalid.ron:2:"), "{out}");

    for flag in ["--token", "--url"] {
        let (code, _, err) = watchkeeper(&["run", "--ephemeral", flag, "x"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("{flag} is for the commands")),
            "{err}"
        );
    }

    let empty = dir.path().join("empty.ron");
    std::fs::write(&empty, "\n// nothing yet\n").unwrap();
    let (code, _, err) = watchkeeper(&["check", empty.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("the configuration is empty; `()`"), "{err}");
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

/// `watchkeeper run` reloads its file on SIGHUP: a valid change takes effect (the file's relative
/// data directory, unchanged, needs no restart), an invalid one is refused (the gauge says so, the
/// log places the finding in the file) and the runtime keeps what it had.
#[test]
fn run_reloads_its_configuration_on_sighup() {
    let dir = TempDir::new("cli-hup");
    let file = dir.path().join("run.ron");
    let short = |rules: &str| {
        format!(
            "(\n    alerting: (rules: [{rules}]),\n    deployment: (health_check_port: 0),\n    storage: (path: Some(\"data\")),\n)\n"
        )
    };
    let first = r#"(name: "First", monitor: "search", metric: p99, warning: 0.1)"#;
    std::fs::write(&file, short(first)).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", file.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log, read as it comes so the process never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let (log, stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        })
    };
    let logged = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = log.lock().unwrap().iter().find(|l| l.contains(what)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no {what:?} in the log");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_line = lines.next().unwrap().unwrap();
    // The data directory is the file's, beside it.
    assert!(
        first_line.ends_with(&format!("state in {}", dir.path().join("data").display())),
        "{first_line}"
    );
    let addr: std::net::SocketAddr = first_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let hup = |child: &std::process::Child| {
        assert!(Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    let metric = |name: &str| -> Option<String> {
        get(addr, "/metrics")
            .body
            .lines()
            .find(|l| l.starts_with(name))
            .map(str::to_owned)
    };
    let rules = || -> usize {
        let body: serde_json::Value = serde_json::from_str(&get(addr, "/health").body).unwrap();
        body["details"]["alerting"]["rules"].as_u64().unwrap() as usize
    };
    assert_eq!(rules(), 1);

    let second = r#"(name: "Second", monitor: "search", metric: p50, warning: 0.1)"#;
    std::fs::write(&file, short(&format!("{first}, {second}"))).unwrap();
    hup(&child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while rules() != 2 {
        assert!(Instant::now() < deadline, "the reload did not take effect");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        metric("watchkeeper_config_last_reload_successful ").as_deref(),
        Some("watchkeeper_config_last_reload_successful 1")
    );
    // The data directory as written (relative to the file) is the one in use: nothing to restart.
    let reloaded = logged("Configuration reloaded");
    assert!(reloaded.contains("needs_restart=[]"), "{reloaded}");

    // Invalid: a rule without a threshold. Refused; the two rules stay.
    std::fs::write(
        &file,
        short(r#"(name: "Broken", monitor: "search", metric: p99)"#),
    )
    .unwrap();
    hup(&child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric("watchkeeper_config_last_reload_successful ").as_deref()
        != Some("watchkeeper_config_last_reload_successful 0")
    {
        assert!(
            Instant::now() < deadline,
            "the failed reload was not reported"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rules(), 2, "an invalid reload changes nothing");
    // One log line, the finding placed in the file as `check` places it.
    let refused = logged("Configuration reload failed");
    assert!(
        refused.contains(&format!("{}:2:", file.display()))
            && refused.contains("error: alerting.rules[0]"),
        "{refused}"
    );
    assert_eq!(get(addr, "/health/live").status, 200);

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}

/// The operator commands against a running `watchkeeper run`: alerts, silence add, query and
/// expire, ack, and a test notification through a real channel.
#[test]
fn operator_commands_talk_to_a_running_instance() {
    let dir = TempDir::new("cli-ops");
    let file = dir.path().join("ops.ron");
    std::fs::write(
        &file,
        r#"(
    alerting: (
        check_interval: "100ms", group_wait: "0s",
        rules: [(name: "MemoryAboveOneByte", metric: process_memory_bytes, warning: 1.0)],
    ),
    deployment: (health_check_port: 0, admin_token: Value("ops-token")),
)"#,
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_line = lines.next().unwrap().unwrap();
    let addr: std::net::SocketAddr = first_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let url = format!("http://{addr}");
    let op = |args: &[&str]| -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--url", &url]);
        watchkeeper(&all)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let (code, out, _) = op(&["alerts"]);
        if code == 0 && out.contains("MemoryAboveOneByte") {
            break out;
        }
        assert!(Instant::now() < deadline, "the alert was not listed: {out}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let fingerprint = listed
        .lines()
        .find(|l| l.contains("MemoryAboveOneByte"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_eq!(fingerprint.len(), 16, "{listed}");
    // The instance may also be named before the command.
    let (code, before, _) = watchkeeper(&["--url", &url, "alerts"]);
    assert_eq!(code, 0, "{before}");
    assert!(before.contains(&fingerprint), "{before}");

    let (code, _, err) = op(&["silence", "add", "alertname=\"Other\"", "--comment", "c"]);
    assert_eq!(code, 1, "without the token: refused");
    assert!(err.contains("401"), "{err}");
    let with = |args: &[&str]| -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--token", "ops-token"]);
        op(&all)
    };
    let (code, id, err) = with(&[
        "silence",
        "add",
        "alertname=~\"Mem.*\"",
        "--comment",
        "known",
        "--duration",
        "2h",
        "--author",
        "ana",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_owned();
    let (_, query, _) = op(&["silence", "query"]);
    assert!(
        query.contains(&id) && query.contains("alertname=~\"Mem.*\""),
        "{query}"
    );
    let (code, _, err) = with(&["silence", "expire", &id]);
    assert_eq!(code, 0, "{err}");
    let (_, expired, _) = op(&["silence", "query", "--expired"]);
    assert!(expired.contains(&id), "{expired}");
    let (_, active, _) = op(&["silence", "query"]);
    assert!(!active.contains(&id), "{active}");

    // A bare first matcher names the alert, as amtool reads it; a bad matcher is a usage error.
    let (code, bare, err) = with(&["silence", "add", "MemoryAboveOneByte", "--comment", "c"]);
    assert_eq!(code, 0, "{err}");
    let (_, query, _) = op(&["silence", "query", "MemoryAboveOneByte"]);
    assert!(
        query.contains(bare.trim()) && query.contains("alertname=\"MemoryAboveOneByte\""),
        "{query}"
    );
    let (code, _, err) = with(&["silence", "add", "team=~\"(\"", "--comment", "c"]);
    assert_eq!(code, 2, "{err}");
    // A path in the address is kept: here it names nothing, so the answer is 404.
    let (code, _, err) = watchkeeper(&["alerts", "--url", &format!("{url}/prefix")]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");

    let (code, out, err) = with(&["ack", &fingerprint, "--by", "ana"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("acknowledged"));
    let (code, _, err) = with(&["ack", "00000000000000ff", "--by", "ana"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");

    let (code, out, err) = with(&["notify-test", "--channel", "log"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("delivered to log after 1 attempt(s)"), "{out}");
    let (code, _, err) = with(&["notify-test", "--channel", "nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("no enabled channel"), "{err}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// `watchkeeper check f.ron | head -1`: the pipe closes after one line and `check` ends quietly,
/// with its own exit status, instead of panicking on the broken pipe.
#[test]
fn check_ends_quietly_when_its_reader_goes_away() {
    let dir = TempDir::new("cli-pipe");
    let file = dir.path().join("many.ron");
    // Thousands of findings: far more output than a pipe buffers.
    let rules: Vec<String> = (0..3000)
        .map(|i| format!("(name: \"Rule{i}\", monitor: \"nowhere{i}\", metric: p99, warning: 0.1)"))
        .collect();
    std::fs::write(
        &file,
        format!("(alerting: (rules: [{}]))", rules.join(",\n")),
    )
    .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{BIN} check {} | head -1; echo \"status ${{PIPESTATUS:-?}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["check", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone now.
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(first.contains("many.ron:"), "{first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Warnings only (rules on monitors that do not exist): 0, and never a panic's 101.
    assert_eq!(result.status.code(), Some(0), "{stderr}");
    let shell = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shell.lines().count(), 2, "{shell}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
