//! Resources of this process, read from the operating system (Linux `/proc/self`).
//!
//! Every figure is `None` where the platform does not provide it (any OS but Linux, or a `/proc`
//! file the process may not read): unavailable, never guessed.

use std::time::Duration;

use serde::Serialize;

/// One reading of the process's resources.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::process::ProcessStats;
///
/// let stats = ProcessStats::read();
/// if cfg!(target_os = "linux") {
///     assert!(stats.resident_bytes.unwrap() > 0);
///     assert!(stats.threads.unwrap() >= 1);
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessStats {
    /// Resident memory (`VmRSS`), bytes.
    pub resident_bytes: Option<u64>,
    /// Peak resident memory (`VmHWM`), bytes.
    pub peak_resident_bytes: Option<u64>,
    /// Resident anonymous memory (`RssAnon`), bytes: what the process's allocations and mappings
    /// hold, without the pages of its code and libraries, which become resident as code first
    /// runs.
    pub resident_anon_bytes: Option<u64>,
    /// Virtual memory (`VmSize`), bytes.
    pub virtual_bytes: Option<u64>,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The most file descriptors it may open (the soft `RLIMIT_NOFILE`).
    pub max_fds: Option<u64>,
    /// CPU time used, user plus system.
    #[serde(
        rename = "cpu_seconds",
        serialize_with = "crate::duration_serde::seconds_opt"
    )]
    pub cpu_time: Option<Duration>,
    /// Bytes read from storage.
    pub read_bytes: Option<u64>,
    /// Bytes written to storage.
    pub write_bytes: Option<u64>,
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].trim().parse().ok())
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as u64)
}

/// When the process started, seconds since the Unix epoch: its start in clock ticks after boot
/// (field 22 of `/proc/self/stat`) plus the boot time (`btime` of `/proc/stat`).
#[cfg(target_os = "linux")]
fn start_time_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = field(&std::fs::read_to_string("/proc/stat").ok()?, "btime")?;
    Some(boot as f64 + ticks as f64 / clock_ticks_per_second()? as f64)
}

#[cfg(target_os = "linux")]
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let hz = clock_ticks_per_second()?;
    Some(Duration::from_nanos((utime + stime) * 1_000_000_000 / hz))
}

/// The soft limit on open file descriptors (`RLIMIT_NOFILE`); `None` when unlimited or unknown.
#[cfg(unix)]
pub fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and has no other effect.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    // rlim_t is u64 on Linux but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

/// The soft limit on open file descriptors (unknown on this platform).
#[cfg(not(unix))]
pub fn fd_limit() -> Option<u64> {
    None
}

impl ProcessStats {
    /// Reads the figures now.
    #[cfg(target_os = "linux")]
    pub fn read() -> ProcessStats {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        ProcessStats {
            resident_bytes: status_kib(&status, "VmRSS:"),
            peak_resident_bytes: status_kib(&status, "VmHWM:"),
            resident_anon_bytes: status_kib(&status, "RssAnon:"),
            virtual_bytes: status_kib(&status, "VmSize:"),
            start_time_seconds: start_time_seconds(),
            threads: field(&status, "Threads:"),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: fd_limit(),
            cpu_time: cpu_time(),
            read_bytes: field(&io, "read_bytes:"),
            write_bytes: field(&io, "write_bytes:"),
        }
    }

    /// Reads the figures now (unavailable on this platform).
    #[cfg(not(target_os = "linux"))]
    pub fn read() -> ProcessStats {
        ProcessStats::default()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn start_time_and_virtual_memory_are_read() {
        let s = ProcessStats::read();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = s.start_time_seconds.unwrap();
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        assert!(s.virtual_bytes.unwrap() >= s.resident_bytes.unwrap());
    }

    #[test]
    fn resident_memory_grows_with_touched_memory() {
        let read = || {
            let s = ProcessStats::read();
            (s.resident_bytes.unwrap(), s.resident_anon_bytes.unwrap())
        };
        // Other tests in this process allocate and free beside it (by up to tens of MiB): the
        // block is large enough that their noise cannot hide it.
        let (before, anon_before) = read();
        let block = vec![1u8; 256 << 20];
        let (after, anon_after) = read();
        assert!(after >= before + (224 << 20), "{before} -> {after}");
        assert!(
            anon_after >= anon_before + (224 << 20),
            "{anon_before} -> {anon_after}"
        );
        assert!(anon_after <= after);
        drop(block);
    }

    #[test]
    fn reads_threads_fds_and_cpu_time() {
        let stats = ProcessStats::read();
        assert!(stats.threads.unwrap() >= 1);
        assert!(stats.open_fds.unwrap() >= 3);
        let t0 = stats.cpu_time.unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(ProcessStats::read().cpu_time.unwrap() > t0);
    }
}

/// A reading of the process's resources with the CPU use between it and the reading before.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// use watchkeeper_actors::process::{GetProcessStats, ProcessMonitorActor};
///
/// let process = root.start_child(ChildSpec::new("process", || ProcessMonitorActor::new(Duration::from_secs(15))));
/// let report = process.ask(GetProcessStats, t).await?;
/// // Read when the actor started; CPU use needs a second reading.
/// assert!(report.sampled_at.is_some());
/// assert_eq!(report.cpu_percent, None);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessReport {
    /// The figures.
    pub stats: ProcessStats,
    /// CPU use between the reading before and this one (at least the actor's period apart), in
    /// percent of one core (200 = two cores busy).
    pub cpu_percent: Option<f64>,
    /// When the figures were read.
    pub sampled_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Reads the process's resources when asked, at most once every `every` (a reading younger than
/// that is answered again); answers [`GetProcessStats`]. It reads once when it starts, so the first
/// answer a period later has CPU use; nothing runs while nobody asks.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// use watchkeeper_actors::process::{GetProcessStats, ProcessMonitorActor};
///
/// let process = root.start_child(ChildSpec::new("process", || ProcessMonitorActor::new(Duration::from_secs(15))));
/// let report = process.ask(GetProcessStats, t).await?;
/// if cfg!(target_os = "linux") {
///     assert!(report.stats.resident_bytes.is_some());
/// }
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
pub struct ProcessMonitorActor {
    every: Duration,
    last: Option<(tokio::time::Instant, ProcessStats)>,
    latest: ProcessReport,
}

impl ProcessMonitorActor {
    /// A monitor reading at most once every `every`.
    pub fn new(every: Duration) -> Self {
        ProcessMonitorActor {
            every,
            last: None,
            latest: ProcessReport::default(),
        }
    }

    fn sample(&mut self) {
        let now = tokio::time::Instant::now();
        let stats = ProcessStats::read();
        let cpu_percent = match (&self.last, stats.cpu_time) {
            (Some((then, before)), Some(cpu)) => {
                let wall = now.duration_since(*then).as_secs_f64();
                before
                    .cpu_time
                    .filter(|_| wall > 0.0)
                    .map(|b| 100.0 * cpu.saturating_sub(b).as_secs_f64() / wall)
            }
            _ => None,
        };
        self.latest = ProcessReport {
            stats: stats.clone(),
            cpu_percent,
            sampled_at: Some(chrono::Utc::now()),
        };
        self.last = Some((now, stats));
    }
}

impl crate::ChildActor for ProcessMonitorActor {
    fn started(&mut self, _: &mut crate::ChildContext<'_, Self>) {
        self.sample();
    }
}

/// Ask for the latest [`ProcessReport`].
#[derive(Debug)]
pub struct GetProcessStats;

impl crate::Message for GetProcessStats {
    type Result = ProcessReport;
}

impl crate::Handles<GetProcessStats> for ProcessMonitorActor {
    fn handle(
        &mut self,
        _: GetProcessStats,
        _: &mut crate::ChildContext<'_, Self>,
    ) -> ProcessReport {
        if self
            .last
            .as_ref()
            .is_none_or(|(then, _)| then.elapsed() >= self.every)
        {
            self.sample();
        }
        self.latest.clone()
    }
}
