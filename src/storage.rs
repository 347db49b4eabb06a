//! State that survives the process: the `storage` section, the file, and the actor that writes it.
//!
//! With `storage.path` set, the runtime keeps `state.ron` in that directory: silences,
//! acknowledgements, alert states with their timers, the notification log, run-time thresholds,
//! the detectors' baselines (all from the alerting store, see
//! [`SavedAlerting`](watchkeeper_actors::alerting::SavedAlerting)) and the sampling set over the
//! admin API. [`StorageActor`] writes it every `interval` when it changed, and at once when an
//! operator's change (a silence, an acknowledgement) asks it to; the admin server answers such a
//! request only once it is written. Every write goes to a temporary file that is synced, renamed
//! over the old one, and the directory synced: a crash leaves the old file or the new one, never a
//! torn one; a write that fails is counted in [`StorageStatus`] (the health report and `/metrics`
//! show it) until one succeeds. On start the directory is locked for this runtime and the file read
//! back; one that is not a state file is moved aside (`state.ron.corrupt-<unix time>`, numbered if
//! taken) with an ERROR, and the runtime starts fresh; one that cannot be read at all stops the
//! start. Nothing here panics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use watchkeeper_actors::alerting::{AlertStore, SavedAlerting, SAVED_FORMAT};
use watchkeeper_actors::duration_serde;
use watchkeeper_actors::kernel::validation::{Validation, A_DAY};
use watchkeeper_actors::{ChildActor, ChildContext, Handles, Message, Overflow};

/// The file's name in the data directory.
pub const STATE_FILE: &str = "state.ron";

/// Where and how often the runtime saves what must survive it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper::config::StorageConfig;
///
/// let storage = StorageConfig { path: Some("/var/lib/watchkeeper".into()), interval: Duration::from_secs(10) };
/// assert!(!storage.validate().has_errors());
/// let empty = StorageConfig { path: Some("".into()), ..storage };
/// assert_eq!(empty.validate().findings[0].field, "path");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The data directory; `None` (the default for an embedded runtime) keeps nothing. A
    /// relative one is beside the configuration file when the runtime starts from one
    /// (`RuntimeBuilder::config_file`, `watchkeeper run`), else in the working directory.
    /// `watchkeeper run` uses `watchkeeper-data` beside its file unless told otherwise.
    pub path: Option<PathBuf>,
    /// How often the state is written when it changed (operators' changes are written at once).
    #[serde(with = "duration_serde")]
    pub interval: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: None,
            interval: Duration::from_secs(5),
        }
    }
}

impl StorageConfig {
    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        v.duration("interval", self.interval, A_DAY);
        if let Some(path) = &self.path {
            // Whether it can be used is found where it is used: a relative path is resolved
            // against the configuration file, or replaced (`--data-dir`), and the start refuses
            // one that cannot be made, naming it.
            if path.as_os_str().is_empty() {
                v.error("path", "must not be empty; leave it out to keep nothing");
            }
        }
        v
    }
}

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Saved {
    pub(crate) format: u32,
    pub(crate) saved_at: DateTime<Utc>,
    pub(crate) alerting: SavedAlerting,
    /// Sampling fractions set over the admin API, by monitor.
    pub(crate) sampling: BTreeMap<String, f64>,
}

/// How the writes of the state have gone, for the health report and `/metrics`: a write that
/// fails (a full disk, a directory made read-only) leaves the change in force but not on disk,
/// and says so here until a write succeeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StorageStatus {
    /// The data directory.
    pub path: PathBuf,
    /// Writes that reached the disk since start.
    pub writes: u64,
    /// Writes that failed since start.
    pub write_errors: u64,
    /// When the state last reached the disk (`None`: not since start).
    pub last_written_at: Option<DateTime<Utc>>,
    /// The size of the state last written.
    pub bytes: u64,
    /// The first failed write since the last one that succeeded, while writes fail: changes
    /// made since then would not survive a crash.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the last write failed, while writes fail.
    pub last_error: Option<String>,
}

impl StorageStatus {
    fn note(&mut self, outcome: &Result<usize, String>) {
        match outcome {
            Ok(bytes) => {
                self.writes += 1;
                self.bytes = *bytes as u64;
                self.last_written_at = Some(Utc::now());
                self.failing_since = None;
                self.last_error = None;
            }
            Err(e) => {
                self.write_errors += 1;
                self.failing_since.get_or_insert_with(Utc::now);
                self.last_error = Some(e.clone());
            }
        }
    }
}

/// What the runtime shares with the storage actor.
#[derive(Clone)]
pub(crate) struct Persisted {
    pub(crate) dir: PathBuf,
    pub(crate) alerting: Arc<AlertStore>,
    pub(crate) sampling: Arc<Mutex<BTreeMap<String, f64>>>,
    pub(crate) status: Arc<Mutex<StorageStatus>>,
    /// Held by each write, so that the last one at shutdown does not share the temporary file with
    /// one still under way.
    pub(crate) writes: Arc<Mutex<()>>,
}

impl Persisted {
    /// The state as saved at `saved_at`.
    fn render(&self, saved_at: DateTime<Utc>) -> Result<String, String> {
        let alerting = self.alerting.lock().saved();
        let saved = Saved {
            format: SAVED_FORMAT,
            saved_at,
            alerting,
            sampling: self
                .sampling
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        ron::to_string(&saved).map_err(|e| format!("cannot encode the state: {e}"))
    }

    fn note(&self, outcome: &Result<usize, String>) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(outcome);
    }
}

/// The lock file that says a runtime uses a data directory.
const LOCK_FILE: &str = "lock";

/// Takes `dir` for this process: creates it, and holds an exclusive lock on a file in it until
/// the returned file is dropped. Another runtime on the same directory (in this process or
/// another) would overwrite this one's state, and is refused; so is a path that is not a
/// directory.
pub(crate) fn claim(dir: &Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("the data directory {} cannot be made: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            format!(
                "the data directory's lock {} cannot be opened: {e}",
                path.display()
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "the data directory {} is in use by another runtime (it holds {}); give each its own storage.path",
            dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "the data directory's lock {} cannot be taken: {e}",
            path.display()
        )),
    }
}

/// Reads the state in `dir`, if there is one. A file that is not a state file (truncated,
/// corrupt, of another format) is moved aside, with an ERROR saying so, and `Ok(None)` returned;
/// one that cannot be read at all (permissions, an I/O error) is an error, and stays where it is.
pub(crate) fn load(dir: &Path) -> Result<Option<Saved>, String> {
    let file = dir.join(STATE_FILE);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the saved state {} cannot be read: {e}; make it readable, or move it away to start without it",
                file.display()
            ))
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        set_aside(&file, "is not text");
        return Ok(None);
    };
    match ron::from_str::<Saved>(&text) {
        Ok(saved) if saved.format == SAVED_FORMAT && saved.alerting.format == SAVED_FORMAT => {
            tracing::info!(
                file = %file.display(),
                saved_at = %saved.saved_at,
                silences = saved.alerting.silences.len(),
                alerts = saved.alerting.alerts.len(),
                "State restored"
            );
            Ok(Some(saved))
        }
        Ok(saved) => {
            set_aside(
                &file,
                &format!("has format {}, not {SAVED_FORMAT}", saved.format),
            );
            Ok(None)
        }
        Err(e) => {
            set_aside(&file, &format!("is not a state file: {e}"));
            Ok(None)
        }
    }
}

fn set_aside(file: &Path, why: &str) {
    // A name not taken yet: an earlier bad file is kept too.
    let stamp = Utc::now().timestamp();
    let aside = (0..1000)
        .map(|n| match n {
            0 => file.with_extension(format!("ron.corrupt-{stamp}")),
            n => file.with_extension(format!("ron.corrupt-{stamp}-{n}")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| file.with_extension(format!("ron.corrupt-{stamp}")));
    match std::fs::rename(file, &aside) {
        Ok(()) => tracing::error!(
            file = %file.display(),
            moved_to = %aside.display(),
            "The saved state {why}; it was moved aside and the runtime starts without it"
        ),
        Err(e) => tracing::error!(
            file = %file.display(),
            error = %e,
            "The saved state {why}, and it could not be moved aside; the runtime starts without it"
        ),
    }
}

/// Writes `text` to `dir/state.ron` so that a crash at any point leaves the old file or the new.
pub(crate) fn write_atomically(dir: &Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        // A part written to a full disk takes room the next write needs.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    // The rename itself is durable once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

/// A state written: the time it says it was saved at, and its text.
type Written = (DateTime<Utc>, String);

/// Writes the state; see the module docs.
pub(crate) struct StorageActor {
    persisted: Persisted,
    interval: Duration,
    /// What was last written, and the time it says it was saved at, to write only what changed.
    written: Arc<Mutex<Option<Written>>>,
    /// Whether a write is under way, and who waits for the next one to finish.
    writing: bool,
    again: Vec<oneshot::Sender<Result<(), String>>>,
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
}

impl StorageActor {
    pub(crate) fn new(persisted: Persisted, interval: Duration) -> Self {
        StorageActor {
            persisted,
            interval,
            written: Arc::default(),
            writing: false,
            again: Vec::new(),
            waiting: Vec::new(),
        }
    }

    fn save(
        &mut self,
        ctx: &mut ChildContext<'_, Self>,
        reply: Option<oneshot::Sender<Result<(), String>>>,
    ) {
        if self.writing {
            // The write under way may predate the change: the caller waits for the next one.
            self.again.extend(reply);
            return;
        }
        // Unchanged when it renders, at the time the last write says, as that write's text.
        let unchanged = match &*self.written.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((at, text)) => matches!(self.persisted.render(*at), Ok(now) if now == *text),
            None => false,
        };
        if unchanged {
            if let Some(r) = reply {
                let _ = r.send(Ok(()));
            }
            return;
        }
        let at = Utc::now();
        let text = match self.persisted.render(at) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "State not saved");
                self.persisted.note(&Err(e.clone()));
                if let Some(r) = reply {
                    let _ = r.send(Err(e));
                }
                return;
            }
        };
        self.writing = true;
        self.waiting.extend(reply);
        let dir = self.persisted.dir.clone();
        let written = self.written.clone();
        let writes = self.persisted.writes.clone();
        let write = async move {
            let outcome = tokio::task::spawn_blocking(move || {
                let _one = writes.lock().unwrap_or_else(|p| p.into_inner());
                write_atomically(&dir, &text)
                    .map(|()| text)
                    .map_err(|e| format!("cannot write {}: {e}", dir.join(STATE_FILE).display()))
            })
            .await
            .unwrap_or_else(|e| Err(format!("the write did not finish: {e}")));
            match outcome {
                Ok(text) => {
                    let bytes = text.len();
                    *written.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, text));
                    Ok(bytes)
                }
                Err(e) => Err(e),
            }
        };
        ctx.spawn_then(write, |act, outcome, ctx| {
            act.writing = false;
            act.persisted.note(&outcome);
            let outcome = outcome.map(|_| ());
            if let Err(e) = &outcome {
                tracing::error!(error = %e, "State not saved");
            }
            for waiter in act.waiting.drain(..) {
                let _ = waiter.send(outcome.clone());
            }
            if !act.again.is_empty() {
                let next = std::mem::take(&mut act.again);
                act.waiting.extend(next);
                act.save(ctx, None);
            }
        });
    }
}

impl ChildActor for StorageActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.writing = false;
        ctx.run_interval(self.interval, |act, ctx| act.save(ctx, None));
    }

    fn stopping(&mut self, _: &mut ChildContext<'_, Self>) {
        // The last state, written in place on the way out (shutdown waits for it, and this for a
        // write still under way).
        let _one = self
            .persisted
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match self.persisted.render(Utc::now()) {
            Ok(text) => match write_atomically(&self.persisted.dir, &text) {
                Ok(()) => self.persisted.note(&Ok(text.len())),
                Err(e) => {
                    tracing::error!(error = %e, "State not saved at shutdown");
                    self.persisted.note(&Err(e.to_string()));
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "State not saved at shutdown");
                self.persisted.note(&Err(e));
            }
        }
    }
}

/// Save now; the reply is a receiver told once the state is on disk (or why it is not).
#[derive(Debug)]
pub(crate) struct SaveNow;
impl Message for SaveNow {
    type Result = oneshot::Receiver<Result<(), String>>;
    const OVERFLOW: Overflow = Overflow::Reject;
}
impl Handles<SaveNow> for StorageActor {
    fn handle(
        &mut self,
        _: SaveNow,
        ctx: &mut ChildContext<'_, Self>,
    ) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        self.save(ctx, Some(tx));
        rx
    }
}
