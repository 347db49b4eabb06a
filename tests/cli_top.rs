//! `watchkeeper top` against a runtime this test feeds: `--once` as plain text (and into a closed
//! pipe), and the live view in a real terminal, run under tmux, read with `capture-pane`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::fed::{self, MARKUP};
use common::process::require;

const BIN: &str = env!("CARGO_BIN_EXE_watchkeeper");

#[test]
fn once_prints_one_plain_frame_with_the_tree_monitors_and_alerts() {
    let fed = fed::start();
    let url = format!("http://{}", fed.addr);
    let out = Command::new(BIN)
        .args(["top", "--once", "--url", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "plain text, no escape sequences");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("watchkeeper {url}")),
        "{text}"
    );
    assert!(lines[0].contains("score"), "{text}");
    let monitor = lines
        .iter()
        .find(|l| l.starts_with("search") && l.contains("query"))
        .unwrap_or_else(|| panic!("a row for search/query: {text}"));
    assert!(
        monitor.contains("/s") && monitor.contains(" ms"),
        "{monitor}"
    );
    assert!(
        monitor.chars().any(|c| ('▁'..='█').contains(&c)),
        "a sparkline: {monitor}"
    );
    let index = lines
        .iter()
        .find(|l| l.trim_start().starts_with("index ") && l.contains("running"))
        .unwrap_or_else(|| panic!("index in the tree: {text}"));
    assert!(index.contains("injected fault in `index`"), "{index}");
    let columns: Vec<&str> = index.split_whitespace().collect();
    assert_eq!(columns[2], "1", "one restart: {index}");
    assert!(
        lines.iter().any(|l| l.starts_with("root (one_for_one)")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("  notifiers (")),
        "{text}"
    );
    let alert = lines
        .iter()
        .find(|l| l.starts_with("firing") && l.contains("MarkupInLabels"))
        .unwrap_or_else(|| panic!("the posted alert: {text}"));
    assert!(alert.contains(MARKUP), "{alert}");
    assert!(text.contains("SearchLatencyHigh"), "{text}");

    // Into a pipe that closes after the first line: no panic, no complaint.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{BIN}' top --once --url {url} | head -1"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{out:?}"
    );

    // Nothing listening: exit 1 with the reason.
    drop(fed);
    let out = Command::new(BIN)
        .args(["top", "--once", "--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

/// A tmux server on a socket of its own, killed with everything in it on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend(keys);
        assert!(self.run(&args).status.success());
    }
    /// Polls the screen until `ok` holds; panics with the last screen after 15 s.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "top"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn top_runs_in_a_terminal_sorts_filters_resizes_and_quits_on_q() {
    if !require("tmux", "tmux") {
        return;
    }
    let fed = fed::start();
    let url = format!("http://{}", fed.addr);
    let tmux = Tmux {
        socket: format!("wk-top-{}", std::process::id()),
    };
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "150",
        "-y",
        "45",
        &format!("'{BIN}' top --url {url}"),
    ]);
    assert!(started.status.success(), "{started:?}");

    let screen = tmux.wait_for("the first frame", |s| {
        s.contains("Monitors") && s.contains("SearchLatencyHigh")
    });
    assert!(screen.contains("watchkeeper"), "{screen}");
    let lines: Vec<&str> = screen.lines().collect();
    let row = |name: &str, also: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(name) && l.contains(also))
            .copied()
    };
    let search = row("search", "query").unwrap_or_else(|| panic!("search/query row:\n{screen}"));
    assert!(search.contains("/s") && search.contains("ms"), "{search}");
    assert!(search.chars().any(|c| ('▁'..='█').contains(&c)), "{search}");
    assert!(row("root (one_for_one)", "running").is_some(), "{screen}");
    let index =
        row("index", "injected fault").unwrap_or_else(|| panic!("index in the tree:\n{screen}"));
    assert!(index.contains("running"), "{index}");
    assert!(screen.contains("by name"), "{screen}");

    // Sort by rate: search (hundreds per second) above index.
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("sorted by rate", |s| s.contains("by rate"));
    let at = |s: &str, name: &str, kind: &str| {
        s.lines()
            .position(|l| l.starts_with(name) && l.contains(kind))
            .unwrap_or(usize::MAX)
    };
    assert!(
        at(&screen, "search", "query") < at(&screen, "index", "index"),
        "{screen}"
    );
    tmux.keys(&["r"]);
    tmux.wait_for("reversed", |s| {
        s.contains("by rate (reversed)") && at(s, "index", "index") < at(s, "search", "query")
    });

    // Filter to `index`: the search row and the search actor go.
    tmux.keys(&["/", "i", "n", "d", "e", "x"]);
    tmux.wait_for("the filter being typed", |s| s.contains("filter: index_"));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("filtered", |s| {
        s.contains("filter: index (Esc clears)") && at(s, "search", "query") == usize::MAX
    });
    assert!(at(&screen, "index", "index") != usize::MAX, "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |s| {
        at(s, "search", "query") != usize::MAX
    });

    // A smaller terminal: redrawn to fit, nothing left of the old frame past its edge.
    assert!(tmux
        .run(&["resize-window", "-t", "top", "-x", "100", "-y", "30"])
        .status
        .success());
    let screen = tmux.wait_for("redrawn at 100 columns", |s| {
        s.lines().all(|l| l.chars().count() <= 100)
            && s.contains("Monitors")
            && s.contains("q quit")
    });
    assert!(screen.lines().count() <= 30, "{screen}");
    // A terminal's default 80 columns still show every column: the sparkline and the last failure.
    assert!(tmux
        .run(&["resize-window", "-t", "top", "-x", "80", "-y", "30"])
        .status
        .success());
    let screen = tmux.wait_for("redrawn at 80 columns", |s| {
        s.lines().all(|l| l.chars().count() <= 80) && s.contains("q quit")
    });
    let lines: Vec<&str> = screen.lines().collect();
    let row = |name: &str, also: &str| {
        lines
            .iter()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(name) && l.contains(also))
            .copied()
    };
    let search = row("search", "query").unwrap_or_else(|| panic!("search/query row:\n{screen}"));
    assert!(search.chars().any(|c| ('▁'..='█').contains(&c)), "{search}");
    let index = row("index", "running").unwrap_or_else(|| panic!("index in the tree:\n{screen}"));
    // The failure's own words come first, so even a narrow column says what went wrong.
    assert!(index.contains("injected fault"), "{index}");

    // q quits: the program ends and so does the session.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "q did not quit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
