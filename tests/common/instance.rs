//! A real `watchkeeper run` child process for tests: started with a configuration text, its admin
//! address read from its first line, its resident memory read from `/proc`, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::process::TempDir;

/// The `watchkeeper` binary (tests that use it declare `required-features = ["cli"]`).
/// `WATCHKEEPER_BIN` runs another build of it (e.g. a release build, for figures).
pub fn binary() -> String {
    std::env::var("WATCHKEEPER_BIN").unwrap_or_else(|_| {
        match option_env!("CARGO_BIN_EXE_watchkeeper") {
            Some(bin) => bin.to_owned(),
            None => panic!("this test needs the `cli` feature"),
        }
    })
}

/// A running `watchkeeper run`.
pub struct Instance {
    pub child: Child,
    pub addr: SocketAddr,
    pub config: PathBuf,
    /// Where its configuration (and by default its data) is.
    pub path: PathBuf,
    /// The directory, when the instance owns it (removed when dropped).
    dir: Option<TempDir>,
}

impl Instance {
    /// Starts `watchkeeper run` on `config` (written to a file in a new temporary directory).
    pub fn start(tag: &str, config: &str) -> Instance {
        let dir = TempDir::new(tag);
        Instance::start_in(dir, config)
    }

    /// Starts `watchkeeper run` on `config`, written into `dir`, which it then owns.
    pub fn start_in(dir: TempDir, config: &str) -> Instance {
        let mut instance = Instance::start_at(dir.path(), config);
        instance.dir = Some(dir);
        instance
    }

    /// Starts `watchkeeper run` on `config`, written into `path` (left in place when dropped).
    pub fn start_at(path: &std::path::Path, config: &str) -> Instance {
        let file = path.join("watchkeeper.ron");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(path.join("stderr.log")).unwrap();
        let mut child = Command::new(binary())
            .args(["run", "--config", file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let first = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "watchkeeper run did not start: {first}\n{}",
                    std::fs::read_to_string(path.join("stderr.log")).unwrap_or_default()
                )
            });
        Instance {
            child,
            addr,
            config: file,
            path: path.to_owned(),
            dir: None,
        }
    }

    /// Its resident memory, bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// Each of its threads: its name (and id) and how many times it went to sleep of its own
    /// accord (`voluntary_ctxt_switches`): its wake-ups so far.
    pub fn thread_wakeups(&self) -> Vec<(String, u64)> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id()));
        let mut threads = Vec::new();
        for task in tasks.into_iter().flatten().flatten() {
            let path = task.path();
            let (Ok(name), Ok(status)) = (
                std::fs::read_to_string(path.join("comm")),
                std::fs::read_to_string(path.join("status")),
            ) else {
                continue;
            };
            let woke = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            threads.push((
                format!("{} ({})", name.trim(), task.file_name().to_string_lossy()),
                woke,
            ));
        }
        threads
    }

    /// Its open file descriptors.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// What it wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("stderr.log")).unwrap_or_default()
    }

    /// Kills it with `signal` (e.g. "KILL", "TERM") and reaps it.
    pub fn signal(&mut self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Stops it (SIGTERM, a clean shutdown) and hands back the directory it owned.
    pub fn stop_keep_dir(mut self) -> TempDir {
        self.signal("TERM");
        self.dir.take().expect("an instance started with start_in")
    }

    /// Kills it (SIGKILL) and hands back the directory it owned (to start again on the same data).
    pub fn kill_keep_dir(mut self) -> TempDir {
        self.signal("KILL");
        self.dir.take().expect("an instance started with start_in")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
