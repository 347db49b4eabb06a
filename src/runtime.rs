//! [`Runtime`]: the actor tree, on threads of its own, that a host process embeds.
//!
//! `Runtime::start` spawns the actor system thread (the root supervisor and every actor under it) and
//! the watchdog's thread; handles (`MonitorHandle`) are cheap clones usable from any thread, sync or
//! async. `reload` applies a new configuration to what runs. `shutdown(deadline)` (async) and
//! `shutdown_blocking(deadline)` stop every actor gracefully (last started first), then join both
//! threads, or report that the deadline passed; they take `&self`, so a runtime shared in an `Arc`
//! can be stopped, and a second call returns the first one's outcome. Dropping the runtime does the
//! same with 5 s.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use watchkeeper_actors::alerting::AlertingActor;
use watchkeeper_actors::memory::MemoryManagerActor;
use watchkeeper_actors::notify::NotifierActor;
use watchkeeper_actors::process::ProcessMonitorActor;
use watchkeeper_actors::tuner::TunerActor;
use watchkeeper_actors::{ChildRef, ShutdownReport, SupervisionEvent};

use crate::config::{Config, Severity};
use crate::error::{Error, MonitorError};
use crate::health::{self, SystemHealthReport};
use crate::monitor_handle::MonitorHandle;
use crate::tree::{self, ActorTree, ReloadReport, ReloadStatus};

struct Threads {
    system: JoinHandle<()>,
    done: mpsc::Receiver<()>,
    watchdog: actix::Arbiter,
}

/// What a shutdown takes away from the runtime, and its outcome once it ran.
enum Lifecycle {
    Running {
        threads: Threads,
        admin: Option<AdminServer>,
    },
    /// A shutdown is under way (called from another thread or task).
    Stopping,
    Stopped(Result<ShutdownReport, Error>),
}

#[cfg(feature = "admin")]
type AdminServer = crate::admin::AdminServer;
/// Without the `admin` feature there is no server to hold.
#[cfg(not(feature = "admin"))]
struct AdminServer(#[allow(dead_code)] std::convert::Infallible);

/// The embedded runtime; see the module docs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let mut config = watchkeeper::Config::default();
/// config.deployment.admin_enabled = false;
/// let rt = watchkeeper::Runtime::start(config)?;
/// let search = rt.monitor("search")?;
/// search.record_query(Duration::from_millis(3));
/// rt.flush_blocking()?;
/// assert_eq!(search.stats_blocking()?.total_queries, 1);
/// let report = rt.shutdown_blocking(Duration::from_secs(5))?;
/// assert!(!report.children.is_empty());
/// # Ok::<(), watchkeeper::Error>(())
/// ```
pub struct Runtime {
    tree: Arc<ActorTree>,
    lifecycle: Mutex<Lifecycle>,
    /// Where the admin server listens, kept when the server stops with the runtime.
    admin_addr: Option<std::net::SocketAddr>,
}

/// How a runtime starts: from a configuration, or from a file that `/-/reload` and SIGHUP read again.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let path = std::env::temp_dir().join(format!("watchkeeper-builder-{}.ron", std::process::id()));
/// std::fs::write(&path, r#"(deployment: (admin_enabled: false), monitoring: (monitors: ["search"]))"#)?;
/// let rt = watchkeeper::Runtime::builder().config_file(&path).start()?;
/// assert_eq!(rt.config().monitoring.monitors, ["search"]);
/// // Edit the file, then read it again.
/// std::fs::write(&path, r#"(deployment: (admin_enabled: false), monitoring: (monitors: ["search", "index"]))"#)?;
/// rt.reload_file_blocking()?;
/// assert_eq!(rt.config().monitoring.monitors.len(), 2);
/// rt.shutdown_blocking(Duration::from_secs(5))?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct RuntimeBuilder {
    config: Option<Config>,
    path: Option<PathBuf>,
    data_dir: Option<Option<PathBuf>>,
    paused: bool,
}

impl RuntimeBuilder {
    /// Starts with `config`.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Starts with the configuration in `path`, and reloads from it on request.
    pub fn config_file(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_owned());
        self
    }

    /// Keeps state (silences, acknowledgements, alert states, ...) in `dir`, or nothing with
    /// `None`, in place of the configuration's `storage.path`, which stays as written: a reload of
    /// an unchanged file then finds nothing to restart. `watchkeeper run` passes the directory it
    /// chose (`--data-dir`, else `storage.path` relative to the file, else `watchkeeper-data`
    /// beside it).
    pub fn data_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// Starts the actors on a paused clock that moves only when the host calls
    /// [`Runtime::advance`]: a host's test drives its own rules, windows and notifications through
    /// minutes or hours of virtual time in milliseconds, the same way every run (feature
    /// `test-util`).
    #[cfg(feature = "test-util")]
    pub fn paused(mut self) -> Self {
        self.paused = true;
        self
    }

    /// Starts the runtime.
    pub fn start(self) -> Result<Runtime, Error> {
        let config = match (self.config, &self.path) {
            (Some(config), _) => config,
            (None, Some(path)) => Config::from_file(path)?,
            (None, None) => Config::default(),
        };
        // A relative `storage.path` is beside the file it was written in, as `watchkeeper run`
        // has it.
        let beside = self.path.as_deref().and_then(Path::parent);
        let data_dir = self.data_dir.unwrap_or_else(|| {
            config.storage.path.as_ref().map(|dir| match beside {
                Some(beside) if dir.is_relative() => beside.join(dir),
                _ => dir.clone(),
            })
        });
        Runtime::launch(config, self.path, data_dir, self.paused)
    }
}

impl Runtime {
    /// Starts the actor tree described by `config` on threads of its own, with the configured
    /// monitors. Works from synchronous hosts and from inside a host's own Tokio runtime.
    pub fn start(config: Config) -> Result<Runtime, Error> {
        let data_dir = config.storage.path.clone();
        Runtime::launch(config, None, data_dir, false)
    }

    /// A builder, to start from a configuration file that can be reloaded.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    fn launch(
        config: Config,
        path: Option<PathBuf>,
        data_dir: Option<PathBuf>,
        paused: bool,
    ) -> Result<Runtime, Error> {
        let mut validation = config.validate();
        // Findings of a configuration read from a file name where it is written there.
        if let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            crate::config::locate(&mut validation, &text);
        }
        if validation.has_errors() {
            return Err(Error::Invalid(validation));
        }
        for finding in validation.of(Severity::Warning) {
            match &path {
                Some(p) => tracing::warn!(finding = %finding.in_file(p), "Configuration warning"),
                None => {
                    tracing::warn!(field = %finding.field, message = %finding.message, "Configuration warning")
                }
            }
        }
        let started = tree::start(config, path, data_dir, paused)?;
        let mut runtime = Runtime {
            tree: started.tree,
            lifecycle: Mutex::new(Lifecycle::Running {
                threads: Threads {
                    system: started.system,
                    done: started.done,
                    watchdog: started.watchdog,
                },
                admin: None,
            }),
            admin_addr: None,
        };
        let config = runtime.tree.config.get();
        if config.deployment.admin_enabled {
            if let Err(e) = runtime.start_admin() {
                let _ = runtime.shutdown_blocking(Duration::from_secs(5));
                return Err(e);
            }
        }
        for name in &config.monitoring.monitors {
            runtime.monitor(name)?;
        }
        tracing::info!(
            environment = ?config.deployment.environment,
            monitors = config.monitoring.monitors.len(),
            "Runtime started"
        );
        Ok(runtime)
    }

    #[cfg(feature = "admin")]
    fn start_admin(&mut self) -> Result<(), Error> {
        let tree = self.tree.clone();
        let admin = self
            .tree
            .link
            .run_blocking(
                async move { crate::admin::start(tree) },
                Duration::from_secs(10),
            )
            .and_then(|r| r)?;
        self.admin_addr = Some(admin.addr());
        if let Lifecycle::Running { admin: slot, .. } = &mut *self.lifecycle_mut() {
            *slot = Some(admin);
        }
        Ok(())
    }

    #[cfg(not(feature = "admin"))]
    fn start_admin(&mut self) -> Result<(), Error> {
        tracing::warn!("deployment.admin_enabled is set, but this build has no `admin` feature");
        Ok(())
    }

    /// The running tree, for the facade's other modules.
    pub(crate) fn tree(&self) -> &Arc<ActorTree> {
        &self.tree
    }

    /// Where the admin HTTP server listens, when it runs: with `health_check_port: 0`, the port
    /// the system picked.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin_addr
    }

    /// A `metrics::Recorder` over this runtime's monitors: install it with
    /// `metrics::set_global_recorder` and the host's `histogram!`, `counter!` and `gauge!` are
    /// recorded (see [`MetricsRecorder`](crate::instrument::MetricsRecorder) for how keys map onto
    /// monitors). It takes the `instrumentation` section in force now.
    #[cfg(feature = "metrics")]
    pub fn metrics_recorder(&self) -> crate::instrument::MetricsRecorder {
        crate::instrument::MetricsRecorder::new(self.tree.clone())
    }

    /// A `tracing_subscriber::Layer` that records the host's spans that name a monitor as
    /// operations (see [`SpanLayer`](crate::instrument::SpanLayer)). It takes the
    /// `instrumentation` section in force now.
    #[cfg(feature = "tracing")]
    pub fn tracing_layer(&self) -> crate::instrument::SpanLayer {
        crate::instrument::SpanLayer::new(self.tree.clone())
    }

    /// The Prometheus text exposition `/metrics` serves, from any async runtime (the scrape is
    /// gathered on the runtime's own thread), so a host can serve it from its own HTTP server.
    pub async fn render_metrics(&self) -> Result<String, Error> {
        let tree = self.tree.clone();
        self.tree
            .link
            .run(async move {
                crate::exposition::render(
                    &crate::exposition::snapshot(&tree).await,
                    crate::exposition::Format::Prometheus,
                )
            })
            .await
    }

    /// The Prometheus text exposition `/metrics` serves, for synchronous hosts.
    pub fn render_metrics_blocking(&self) -> Result<String, Error> {
        let tree = self.tree.clone();
        self.tree.link.run_blocking(
            async move {
                crate::exposition::render(
                    &crate::exposition::snapshot(&tree).await,
                    crate::exposition::Format::Prometheus,
                )
            },
            self.tree.link.ask_timeout * 2,
        )
    }

    /// The configuration in force (the one started with, or the last one reloaded).
    pub fn config(&self) -> Arc<Config> {
        self.tree.config.get()
    }

    /// The handle of monitor `name`, starting its (supervised) actor on first use. Refused past
    /// `monitoring.max_monitors` monitors, for an empty name, one over 256 bytes or one with
    /// control characters, and once the runtime is shut down.
    pub fn monitor(&self, name: &str) -> Result<MonitorHandle, MonitorError> {
        if !self.running() {
            return Err(MonitorError::Stopped);
        }
        self.tree.monitor(name)
    }

    /// The alerting actor.
    pub fn alerting(&self) -> &ChildRef<AlertingActor> {
        &self.tree.alerting
    }

    /// The notifier of each enabled channel.
    pub fn channels(&self) -> Vec<(String, ChildRef<NotifierActor>)> {
        self.tree.channels.entries()
    }

    /// The process-resource monitor.
    pub fn process_monitor(&self) -> &ChildRef<ProcessMonitorActor> {
        &self.tree.process
    }

    /// The tuner.
    pub fn tuner(&self) -> &ChildRef<TunerActor> {
        &self.tree.tuner
    }

    /// The memory manager.
    pub fn memory_manager(&self) -> &ChildRef<MemoryManagerActor> {
        &self.tree.memory
    }

    /// Every supervision event from now on (failures, restarts, stalls, escalation).
    pub fn events(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.tree.events.subscribe()
    }

    /// How many times each event happened: supervision events and every subsystem's typed events
    /// (`notification_failed`, `config_reloaded`, ...).
    pub fn event_counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.tree.events.counts()
    }

    /// Registers a check of one of the host's dependencies (a database, a downstream service): the
    /// probe actor runs it with the others every `probes.interval`, within `probes.timeout` (a
    /// panic or a timeout is a failure). It shows in `/health` with its latency and last error; a
    /// failing `critical` check makes `/health/ready` answer 503 and `/health` fail, another one
    /// makes `/health` warn. Registering a name again replaces the check.
    ///
    /// The check runs on a thread of the runtime's blocking pool, on a current-thread Tokio
    /// runtime of its own, kept from one run to the next (what it keeps between runs, a pooled
    /// connection, stays usable; its tasks move only while it runs): it may block (a file system call, a synchronous driver) without holding up the
    /// runtime, and fails at its timeout all the same. One that awaits past its timeout is
    /// cancelled there; a blocked one cannot be, and until it returns the next rounds report it as
    /// still going rather than start it again (a shutdown waits for it). On a
    /// [paused](RuntimeBuilder::paused) clock checks run on the runtime's own thread, where the clock
    /// moves their timers. A future that needs the host's own Tokio runtime (a connection pool's,
    /// say) should spawn its work there, through a `Handle` it captured.
    ///
    /// ```no_run
    /// # let rt = watchkeeper::Runtime::start(watchkeeper::Config::default()).unwrap();
    /// rt.register_check("index-store", true, || async {
    ///     std::fs::metadata("/var/lib/index").map(|_| ()).map_err(|e| e.to_string())
    /// });
    /// ```
    pub fn register_check<F, Fut>(&self, name: &str, critical: bool, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let check: watchkeeper_actors::probe::CheckFn = Arc::new(move || Box::pin(check()));
        self.tree
            .probe_state
            .lock()
            .registered
            .insert(name, critical, check);
        let _ = self.tree.probe.tell(watchkeeper_actors::probe::RunChecks);
    }

    /// Whether the root supervisor gave up (restart intensity exceeded): the health is then Critical.
    pub fn escalated(&self) -> bool {
        self.tree.alarm.escalated()
    }

    /// The health report; every actor is asked with the ask timeout, all at once.
    pub async fn health(&self) -> Result<SystemHealthReport, Error> {
        let tree = self.tree.clone();
        self.tree.link.run(health::assemble(tree)).await
    }

    /// The health report, for synchronous hosts.
    pub fn health_blocking(&self) -> Result<SystemHealthReport, Error> {
        let timeout = self.tree.link.ask_timeout * 2;
        self.tree
            .link
            .run_blocking(health::assemble(self.tree.clone()), timeout)
    }

    /// Applies a new configuration: validated first (with errors nothing changes and they come
    /// back as [`Error::Invalid`]), then only what changed is applied, without restarting what did
    /// not. See [`ReloadReport`] for what it changed and what needs a restart.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, Error> {
        let tree = self.tree.clone();
        self.tree
            .link
            .run(async move { tree.reload(config).await })
            .await?
    }

    /// [`Runtime::reload`], for synchronous hosts.
    pub fn reload_blocking(&self, config: Config) -> Result<ReloadReport, Error> {
        let tree = self.tree.clone();
        let timeout = self.tree.link.ask_timeout * 4;
        self.tree
            .link
            .run_blocking(async move { tree.reload(config).await }, timeout)?
    }

    /// Reads the configuration file the runtime was started from again and reloads it.
    pub async fn reload_file(&self) -> Result<ReloadReport, Error> {
        let tree = self.tree.clone();
        self.tree
            .link
            .run(async move { tree.reload_file().await })
            .await?
    }

    /// [`Runtime::reload_file`], for synchronous hosts.
    pub fn reload_file_blocking(&self) -> Result<ReloadReport, Error> {
        let tree = self.tree.clone();
        let timeout = self.tree.link.ask_timeout * 4;
        self.tree
            .link
            .run_blocking(async move { tree.reload_file().await }, timeout)?
    }

    /// Collects what every monitor's threads recorded now instead of at the next tick, so that
    /// statistics read next include it.
    pub async fn flush(&self) -> Result<(), Error> {
        let tree = self.tree.clone();
        self.tree
            .link
            .run(async move { tree.flush().await })
            .await?
    }

    /// [`Runtime::flush`], for synchronous hosts.
    pub fn flush_blocking(&self) -> Result<(), Error> {
        let tree = self.tree.clone();
        let timeout = self.tree.link.ask_timeout * 2;
        self.tree
            .link
            .run_blocking(async move { tree.flush().await }, timeout)?
    }

    /// Moves a runtime started [paused](RuntimeBuilder::paused) forward by `d` of virtual time:
    /// every timer due on the way (monitor ticks, evaluations, group waits, retries) fires in order,
    /// as it would in real time. [`Error::NotPaused`] otherwise.
    pub async fn advance(&self, d: Duration) -> Result<(), Error> {
        let tree = self.tree.clone();
        self.tree
            .link
            .run(async move { tree.advance(d).await })
            .await?
    }

    /// [`Runtime::advance`], for synchronous hosts.
    pub fn advance_blocking(&self, d: Duration) -> Result<(), Error> {
        let tree = self.tree.clone();
        self.tree.link.run_blocking(
            async move { tree.advance(d).await },
            Duration::from_secs(120),
        )?
    }

    /// How the last reload went.
    pub fn reload_status(&self) -> ReloadStatus {
        self.tree.reload_status()
    }

    /// Stops every actor gracefully (last started first; queued messages handled or failed back),
    /// then joins the runtime's threads, all within `deadline`; from any async runtime (the
    /// joining happens on a thread of its own). Takes `&self`: a runtime shared in an `Arc` can be
    /// stopped by any holder, and a second call returns the first one's outcome (or
    /// [`Error::Stopped`] while the first is still under way).
    pub async fn shutdown(&self, deadline: Duration) -> Result<ShutdownReport, Error> {
        let (threads, admin) = match self.take_for_shutdown() {
            Ok(taken) => taken,
            Err(outcome) => return outcome,
        };
        let tree = self.tree.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("wk-stop".into())
            .spawn(move || {
                let _ = tx.send(stop(&tree, threads, admin, deadline));
            });
        let outcome = match spawned {
            Ok(_) => rx.await.unwrap_or(Err(Error::Stopped)),
            Err(e) => Err(Error::Start(format!(
                "cannot start the shutdown's thread: {e}"
            ))),
        };
        *self.lifecycle_mut() = Lifecycle::Stopped(outcome.clone());
        outcome
    }

    /// [`Runtime::shutdown`] for synchronous hosts.
    pub fn shutdown_blocking(&self, deadline: Duration) -> Result<ShutdownReport, Error> {
        let (threads, admin) = match self.take_for_shutdown() {
            Ok(taken) => taken,
            Err(outcome) => return outcome,
        };
        let outcome = stop(&self.tree, threads, admin, deadline);
        *self.lifecycle_mut() = Lifecycle::Stopped(outcome.clone());
        outcome
    }

    /// Not shut down, nor shutting down.
    pub(crate) fn running(&self) -> bool {
        matches!(*self.lifecycle_mut(), Lifecycle::Running { .. })
    }

    fn lifecycle_mut(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The threads and server to stop, or the outcome to return when that is already done.
    #[allow(clippy::type_complexity)]
    fn take_for_shutdown(
        &self,
    ) -> Result<(Threads, Option<AdminServer>), Result<ShutdownReport, Error>> {
        let mut lifecycle = self.lifecycle_mut();
        match std::mem::replace(&mut *lifecycle, Lifecycle::Stopping) {
            Lifecycle::Running { threads, admin } => Ok((threads, admin)),
            Lifecycle::Stopping => Err(Err(Error::Stopped)),
            Lifecycle::Stopped(outcome) => {
                *lifecycle = Lifecycle::Stopped(outcome.clone());
                Err(outcome)
            }
        }
    }
}

/// Stops the tree and joins its threads within `deadline` (blocks).
fn stop(
    tree: &ActorTree,
    threads: Threads,
    admin: Option<AdminServer>,
    deadline: Duration,
) -> Result<ShutdownReport, Error> {
    let start = Instant::now();
    let root = tree.root.clone();
    // A paused clock is let go: shutdown's own timeouts must be able to pass.
    tree.release_clock();
    #[cfg(not(feature = "admin"))]
    drop(admin);
    let report = tree.link.run_blocking(
        async move {
            #[cfg(feature = "admin")]
            if let Some(admin) = admin {
                admin.stop().await;
            }
            // The actors get most of the deadline; the rest is for joining the threads.
            let report = root.shutdown_by(Some(start + deadline.mul_f64(0.8))).await;
            actix::System::current().stop();
            report
        },
        deadline,
    );
    if report.is_err() {
        tracing::warn!(
            ?deadline,
            "Shutdown grace period expired; stopping the actor system"
        );
        tree.system.stop();
    }
    threads.watchdog.stop();
    let left = deadline.saturating_sub(start.elapsed());
    if threads.done.recv_timeout(left).is_err() {
        tracing::warn!(
            ?deadline,
            "The actor system thread did not finish within the deadline"
        );
        return Err(Error::ShutdownTimedOut(deadline));
    }
    let _ = threads.system.join();
    let _ = threads.watchdog.join();
    let report = report.map_err(|_| Error::ShutdownTimedOut(deadline))?;
    tracing::info!(children = report.children.len(), elapsed = ?start.elapsed(), "Runtime stopped");
    Ok(report)
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.shutdown_blocking(Duration::from_secs(5));
        }
    }
}
