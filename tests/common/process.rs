//! Starting system binaries for integration tests: found or loudly skipped (never skipped under CI),
//! killed and reaped when the test ends, in a temporary directory removed after.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Whether `binary` can run here. Without it a test skips, saying so on stderr; under `CI=true` it
/// fails instead, since CI installs every binary the tests need.
pub fn require(binary: &str, package: &str) -> bool {
    let found = Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("`{binary}` is missing on CI; .ci/run must install the `{package}` package");
        }
        eprintln!("SKIPPED: `{binary}` not found; install the Debian package `{package}` to run this test");
    }
    found
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("wk-{tag}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed and reaped on drop.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` with `args`, its output going to `log`.
pub fn spawn(binary: &str, args: &[String], log: &Path) -> Running {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    Running(
        Command::new(binary)
            .args(args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap(),
    )
}

/// Percent-encodes a URL query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
