//! [`ActorTree`]: the running actor tree as the runtime's parts reach it — the handles of every
//! actor, the configuration in force, and the [`SystemLink`] that runs work on the actor thread.
//!
//! `Runtime` owns the threads and the public API; the admin server, the health report, exposition
//! and monitor handles all work through this tree. `start.rs` builds it, `reload.rs` changes it.

mod reload;
mod start;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use watchkeeper_actors::alerting::{AlertingActor, AlertingConfig};
use watchkeeper_actors::memory::{Components, MemoryConfig, MemoryManagerActor};
use watchkeeper_actors::monitor::{Collect, MonitorDirectory};
use watchkeeper_actors::notify::{ChannelCounters, ChannelDef, NotifierDirectory};
use watchkeeper_actors::process::ProcessMonitorActor;
use watchkeeper_actors::tuner::{TunerActor, TuningConfig};
use watchkeeper_actors::{ChildRef, EventBus, HostAlarm, Live, SupervisorRef};

pub use self::reload::{ReloadReport, ReloadStatus};
pub(crate) use self::start::{start, taken_name};
use crate::config::Config;
use crate::error::Error;
use crate::monitor_handle::MonitorHandle;

/// The admin server's connections, as `/metrics` and the health report show them.
#[derive(Debug, Default)]
pub(crate) struct AdminConnections {
    /// Held open now.
    pub(crate) open: std::sync::atomic::AtomicU64,
    /// Accepted since start.
    pub(crate) accepted: std::sync::atomic::AtomicU64,
    /// Closed to make room for a newer one.
    pub(crate) evicted: std::sync::atomic::AtomicU64,
    /// `accept` failures (e.g. no file descriptor left), and connections closed at once because
    /// the application could not be built for them.
    pub(crate) accept_errors: std::sync::atomic::AtomicU64,
}

impl ActorTree {
    /// Writes the state now, when there is a data directory; done once it is on disk (the admin
    /// server's and the facade's operator changes call it).
    pub(crate) async fn persist(&self) -> Result<(), String> {
        let Some((storage, _)) = &self.storage else {
            return Ok(());
        };
        let written = storage
            .ask(crate::storage::SaveNow, self.link.ask_timeout)
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.link.ask_timeout * 5, written).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err("the storage actor stopped".into()),
            Err(_) => Err("the state was not written in time".into()),
        }
    }

    /// How the writes of the state have gone, when there is a data directory.
    pub(crate) fn storage_status(&self) -> Option<crate::storage::StorageStatus> {
        self.storage
            .as_ref()
            .map(|(_, s)| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// How the runtime's parts reach the actor system: its arbiter, and how long they wait for answers.
#[derive(Clone)]
pub(crate) struct SystemLink {
    pub(crate) arbiter: actix::ArbiterHandle,
    pub(crate) ask_timeout: Duration,
}

impl SystemLink {
    /// Runs `fut` on the actor system and awaits its output from any executor.
    pub(crate) async fn run<F>(&self, fut: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.arbiter.spawn(async move {
            let _ = tx.send(fut.await);
        }) {
            return Err(Error::Stopped);
        }
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Runs `fut` on the actor system and blocks the calling thread up to `timeout` for its output.
    pub(crate) fn run_blocking<F>(&self, fut: F, timeout: Duration) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.arbiter.spawn(async move {
            let _ = tx.send(fut.await);
        }) {
            return Err(Error::Stopped);
        }
        rx.recv_timeout(timeout).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Error::Timeout(timeout),
            mpsc::RecvTimeoutError::Disconnected => Error::Stopped,
        })
    }
}

/// One enabled channel: what its notifier was built from.
pub(crate) struct Channel {
    pub(crate) def: ChannelDef,
}

/// The running tree; see the module docs.
pub(crate) struct ActorTree {
    /// The whole configuration in force.
    pub(crate) config: Live<Config>,
    /// The sections actors read while they run.
    pub(crate) alerting_config: Live<AlertingConfig>,
    pub(crate) memory_config: Live<MemoryConfig>,
    pub(crate) tuning_config: Live<TuningConfig>,
    pub(crate) probes_config: Live<watchkeeper_actors::probe::ProbesConfig>,
    /// What the dependency checks saw; readiness reads it without asking.
    pub(crate) probe_state: Arc<watchkeeper_actors::Store<watchkeeper_actors::probe::ProbeState>>,
    pub(crate) probe: ChildRef<watchkeeper_actors::probe::ProbeActor>,
    /// The storage actor, when there is a data directory, and how its writes have gone.
    pub(crate) storage: Option<(
        ChildRef<crate::storage::StorageActor>,
        Arc<Mutex<crate::storage::StorageStatus>>,
    )>,
    /// Sampling fractions set over the admin API, by monitor (saved, and applied on restart).
    pub(crate) sampling: Arc<Mutex<BTreeMap<String, f64>>>,
    /// The file the configuration came from, which `/-/reload` and SIGHUP read again.
    pub(crate) config_path: Option<PathBuf>,
    pub(crate) link: SystemLink,
    pub(crate) root: SupervisorRef,
    pub(crate) alarm: Arc<HostAlarm>,
    pub(crate) events: EventBus,
    pub(crate) monitors: Mutex<BTreeMap<String, MonitorHandle>>,
    /// Monitors by name, as the alerting actor and the tuner read them.
    pub(crate) monitor_refs: MonitorDirectory,
    /// What the memory manager measures and trims.
    pub(crate) components: Components,
    pub(crate) process: ChildRef<ProcessMonitorActor>,
    pub(crate) alerting: ChildRef<AlertingActor>,
    /// The nested supervisor of the notifiers.
    pub(crate) notifiers: SupervisorRef,
    /// Notifiers by channel, as the alerting actor sends to them.
    pub(crate) channels: NotifierDirectory,
    /// The enabled channels by name.
    pub(crate) channel_defs: Mutex<BTreeMap<String, Channel>>,
    /// Every channel's counters, kept when a reload removes the channel so they never go back.
    pub(crate) channel_counters: Mutex<BTreeMap<String, Arc<ChannelCounters>>>,
    pub(crate) tuner: ChildRef<TunerActor>,
    pub(crate) memory: ChildRef<MemoryManagerActor>,
    pub(crate) started: Instant,
    pub(crate) admin_connections: Arc<AdminConnections>,
    /// The host's metric registrations and spans that could not be recorded.
    pub(crate) instrumentation_dropped: std::sync::atomic::AtomicU64,
    pub(crate) reloads: Mutex<ReloadStatus>,
    /// Serialises reloads: one applies at a time.
    pub(crate) reloading: tokio::sync::Mutex<()>,
    /// The last `/health` answered over HTTP, and whether a newer one is being gathered (see
    /// `endpoints::shared_health`).
    pub(crate) health_cache: Mutex<Option<(Instant, crate::endpoints::Answer)>>,
    pub(crate) health_refreshing: std::sync::atomic::AtomicBool,
    /// The clock of a paused runtime (`RuntimeBuilder::paused`).
    pub(crate) clock: Option<PausedClock>,
    pub(crate) system: actix::System,
}

/// The clock of a runtime started paused: Tokio moves a paused clock by itself only while the
/// runtime is idle and no blocking task runs, so one blocking task that waits for a signal holds it
/// still; [`ActorTree::advance`] lets it go, timer by timer, up to a target, then holds it again.
pub(crate) struct PausedClock {
    hold: Mutex<Option<mpsc::Sender<()>>>,
}

impl PausedClock {
    /// A clock held still from now on; must be called on the actor system's thread.
    fn held() -> Self {
        let clock = PausedClock {
            hold: Mutex::new(None),
        };
        clock.hold();
        clock
    }

    fn hold(&self) {
        let (tx, rx) = mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        *locked(&self.hold) = Some(tx);
    }

    fn release(&self) {
        locked(&self.hold).take();
    }
}

pub(crate) fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ActorTree {
    /// Every monitor handle, in name order.
    pub(crate) fn handles(&self) -> Vec<MonitorHandle> {
        locked(&self.monitors).values().cloned().collect()
    }

    /// The handle of monitor `name`, if it exists.
    pub(crate) fn handle(&self, name: &str) -> Option<MonitorHandle> {
        locked(&self.monitors).get(name).cloned()
    }

    /// Every enabled channel's name and counters, in name order.
    pub(crate) fn channel_counters(&self) -> Vec<(String, Arc<ChannelCounters>)> {
        let enabled: Vec<String> = locked(&self.channel_defs).keys().cloned().collect();
        let counters = locked(&self.channel_counters);
        enabled
            .into_iter()
            .filter_map(|n| counters.get(&n).map(|c| (n, c.clone())))
            .collect()
    }

    /// The counters of `channel`, created on first use.
    pub(crate) fn counters_of(&self, channel: &str) -> Arc<ChannelCounters> {
        locked(&self.channel_counters)
            .entry(channel.to_owned())
            .or_default()
            .clone()
    }

    /// Moves a paused runtime's clock forward by `d`: every timer due on the way fires in order, as
    /// it would in real time, then whatever that started runs.
    pub(crate) async fn advance(&self, d: Duration) -> Result<(), Error> {
        let Some(clock) = &self.clock else {
            return Err(Error::NotPaused);
        };
        let target = tokio::time::Instant::now() + d;
        let arrived = tokio::time::sleep_until(target);
        clock.release();
        arrived.await;
        clock.hold();
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Lets a paused clock move by itself again (at shutdown).
    pub(crate) fn release_clock(&self) {
        if let Some(clock) = &self.clock {
            clock.release();
        }
    }

    /// Collects every monitor now, so statistics read next include everything recorded so far.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let timeout = self.link.ask_timeout;
        let asks = self
            .handles()
            .into_iter()
            .map(|h| async move { h.actor().ask(Collect, timeout).await });
        for answer in futures_util::future::join_all(asks).await {
            answer?;
        }
        Ok(())
    }

    /// How the last reload went.
    pub(crate) fn reload_status(&self) -> ReloadStatus {
        locked(&self.reloads).clone()
    }
}
