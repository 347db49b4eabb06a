//! Building the tree: the actor system's thread, the root supervisor and every actor under it,
//! monitors as the host asks for them, and each enabled channel's notifier.
//!
//! ```text
//! root (SupervisorConfig)
//!  ├─ process      ProcessMonitorActor
//!  ├─ notifiers    nested supervisor: one NotifierActor per enabled channel
//!  ├─ alerting     AlertingActor
//!  ├─ tuner        TunerActor
//!  ├─ memory       MemoryManagerActor
//!  └─ <monitor>    MonitorActor, one per monitor, created by `Runtime::monitor`
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use watchkeeper_actors::alerting::{self, AlertStore, AlertingActor};
use watchkeeper_actors::kernel::validation;
use watchkeeper_actors::memory::{self, Component, Components, MemoryManagerActor, MemoryStore};
use watchkeeper_actors::monitor::{MonitorActor, MonitorDirectory, MonitorStore};
use watchkeeper_actors::notify::{ChannelDef, NotifierDirectory, BUILT_IN_CHANNELS};
use watchkeeper_actors::probe::{ProbeActor, ProbeState};
use watchkeeper_actors::process::ProcessMonitorActor;
use watchkeeper_actors::tuner::{self, TunerActor, TunerStore};
use watchkeeper_actors::{
    ChildSpec, EventBus, Live, Store, SupervisorRef, Watchdog, WatchdogActor,
};

use super::{locked, ActorTree, Channel, PausedClock, ReloadStatus, SystemLink};
use crate::config::Config;
use crate::error::{Error, MonitorError};
use crate::monitor_handle::MonitorHandle;

/// The tree and the threads it runs on.
pub(crate) struct Started {
    pub(crate) tree: Arc<ActorTree>,
    pub(crate) system: JoinHandle<()>,
    /// Told when the system thread's loop has ended.
    pub(crate) done: mpsc::Receiver<()>,
    pub(crate) watchdog: actix::Arbiter,
}

/// Starts the actor system on a thread of its own and builds the tree described by `config`.
/// State is kept in `data_dir` (`None`: nothing is kept).
pub(crate) fn start(
    config: Config,
    config_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    paused: bool,
) -> Result<Started, Error> {
    // The data directory is this runtime's alone while it runs, and its state is read before
    // anything starts: one that cannot be taken or read stops the start, saying why.
    let (claim, saved) = match &data_dir {
        Some(dir) => (
            Some(crate::storage::claim(dir).map_err(Error::Start)?),
            crate::storage::load(dir).map_err(Error::Start)?,
        ),
        None => (None, None),
    };
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let thread_config = config.clone();
    let system_thread = std::thread::Builder::new()
        .name("watchkeeper".into())
        .spawn(move || {
            let system = if paused {
                paused_system()
            } else {
                actix::System::new()
            };
            let built = system.block_on(build(thread_config, config_path, data_dir, saved, paused));
            let ok = built.is_ok();
            if started_tx.send(built).is_ok() && ok {
                if let Err(e) = system.run() {
                    tracing::error!(error = %e, "Actor system ended with an error");
                }
            }
            // Given up only once the actors, and the last write of the state, are done.
            drop(claim);
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Start(e.to_string()))?;
    let built = started_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| Error::Start(format!("the actor system did not start: {e}")))?;
    let (tree, watchdog) = match built {
        Ok(parts) => parts,
        Err(e) => {
            let _ = system_thread.join();
            return Err(e);
        }
    };
    let tree = Arc::new(tree);
    Ok(Started {
        tree,
        system: system_thread,
        done: done_rx,
        watchdog,
    })
}

/// An actor system on a paused Tokio clock, which moves only when the host advances it.
#[cfg(feature = "test-util")]
fn paused_system() -> actix::SystemRunner {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("building a current-thread Tokio runtime")
    })
}

#[cfg(not(feature = "test-util"))]
fn paused_system() -> actix::SystemRunner {
    actix::System::new()
}

/// Builds every actor, on the actor system's thread.
async fn build(
    config: Config,
    config_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    saved: Option<crate::storage::Saved>,
    paused: bool,
) -> Result<(ActorTree, actix::Arbiter), Error> {
    let sup = config.supervisor;
    let events = EventBus::new(4096);
    let budget = sup.watchdog_budget;
    let watchdog = Watchdog::new(budget, (budget / 5).max(Duration::from_millis(1)));
    let watchdog_arbiter = actix::Arbiter::new();
    WatchdogActor::start_on(&watchdog_arbiter.handle(), watchdog.clone(), events.clone());
    let (root, alarm) = SupervisorRef::start_root("root", sup, events.clone(), Some(watchdog));
    let fail = |e: Error, arbiter: &actix::Arbiter| {
        arbiter.stop();
        actix::System::current().stop();
        e
    };
    let tick = config.monitoring.tick;
    let process = root.start_child(ChildSpec::new("process", move || {
        ProcessMonitorActor::new(tick)
    }));
    let Some(notifiers) = root.start_supervisor("notifiers", sup).await else {
        return Err(fail(
            Error::Start("the notifiers' supervisor did not start".into()),
            &watchdog_arbiter,
        ));
    };
    let monitor_refs = MonitorDirectory::default();
    let channels = NotifierDirectory::default();
    let components = Components::default();
    let alerting_config = Live::new(config.alerting.clone());
    let peers = alerting::Peers {
        monitors: monitor_refs.clone(),
        supervisor: Some(root.clone()),
        channels: channels.clone(),
        ask_timeout: sup.ask_timeout,
    };
    // What a previous process saved, when there is a data directory.
    let (alert_state, sampling) = match saved {
        Some(saved) => (
            alerting::AlertingState::restored(saved.alerting),
            saved.sampling,
        ),
        None => (Default::default(), BTreeMap::new()),
    };
    let alert_store = AlertStore::new(alert_state);
    let sampling = Arc::new(Mutex::new(sampling));
    let (live, store) = (alerting_config.clone(), alert_store.clone());
    let alerting = root.start_child(
        ChildSpec::new("alerting", move || {
            AlertingActor::new(live.clone(), store.clone(), peers.clone())
        })
        .mailbox_capacity(sup.mailbox_capacity),
    );
    components.add(Component::of(alerting.clone()));
    let tuning_config = Live::new(config.tuning.clone());
    let peers = tuner::Peers {
        monitors: monitor_refs.clone(),
        alerting: Some(alerting.clone()),
        rules: alerting_config.clone(),
        ask_timeout: sup.ask_timeout,
    };
    let (live, store) = (tuning_config.clone(), TunerStore::new(Default::default()));
    let tuner = root.start_child(ChildSpec::new("tuner", move || {
        TunerActor::new(live.clone(), store.clone(), peers.clone())
    }));
    components.add(Component::of(tuner.clone()));
    let memory_config = Live::new(config.memory.clone());
    let peers = memory::Peers {
        components: components.clone(),
        alerting: Some(alerting.clone()),
        ask_timeout: sup.ask_timeout,
    };
    let (live, store) = (memory_config.clone(), MemoryStore::new(Default::default()));
    let memory = root.start_child(ChildSpec::new("memory", move || {
        MemoryManagerActor::new(live.clone(), store.clone(), peers.clone())
    }));
    let probes_config = Live::new(config.probes.clone());
    let probe_state = Store::new(ProbeState::default());
    let (live, store) = (probes_config.clone(), probe_state.clone());
    let probe = root.start_child(ChildSpec::new("probe", move || {
        let probe = ProbeActor::new(live.clone(), store.clone());
        if paused {
            probe.on_paused_clock()
        } else {
            probe
        }
    }));
    let storage = data_dir.map(|dir| {
        let status = Arc::new(Mutex::new(crate::storage::StorageStatus {
            path: dir.clone(),
            ..Default::default()
        }));
        let persisted = crate::storage::Persisted {
            dir,
            alerting: alert_store.clone(),
            sampling: sampling.clone(),
            status: status.clone(),
            writes: Arc::default(),
        };
        let interval = config.storage.interval;
        let actor = root.start_child(ChildSpec::new("storage", move || {
            crate::storage::StorageActor::new(persisted.clone(), interval)
        }));
        (actor, status)
    });
    let tree = ActorTree {
        link: SystemLink {
            arbiter: actix::Arbiter::current(),
            ask_timeout: sup.ask_timeout,
        },
        config: Live::new(config.clone()),
        alerting_config,
        memory_config,
        tuning_config,
        probes_config,
        probe_state,
        probe,
        storage,
        sampling,
        config_path,
        root,
        alarm,
        events,
        monitors: Mutex::new(BTreeMap::new()),
        monitor_refs,
        components,
        process,
        alerting,
        notifiers,
        channels,
        channel_defs: Mutex::new(BTreeMap::new()),
        channel_counters: Mutex::new(BTreeMap::new()),
        tuner,
        memory,
        started: Instant::now(),
        admin_connections: Default::default(),
        instrumentation_dropped: Default::default(),
        reloads: Mutex::new(ReloadStatus::started()),
        reloading: tokio::sync::Mutex::new(()),
        health_cache: Mutex::new(None),
        health_refreshing: Default::default(),
        clock: paused.then(PausedClock::held),
        system: actix::System::current(),
    };
    if config.alerting.enabled {
        for (name, def) in config
            .alerting
            .channels
            .definitions_for(config.alerting.check_interval)
        {
            if let Err(e) = tree.start_channel(&name, def) {
                return Err(fail(Error::Start(e), &watchdog_arbiter));
            }
        }
    }
    Ok((tree, watchdog_arbiter))
}

/// The runtime's own actors beside the monitors, by name.
pub(crate) const RUNTIME_ACTORS: [&str; 7] = [
    "process",
    "alerting",
    "tuner",
    "memory",
    "probe",
    "storage",
    "notifiers",
];

/// Why `name` cannot be a monitor's: it is the name of another of the runtime's actors (its own,
/// or a channel's notifier), whose health and `/metrics` series it would share.
pub(crate) fn taken_name(name: &str, config: &Config) -> Option<String> {
    if RUNTIME_ACTORS.contains(&name) {
        Some(format!("is the name of the runtime's own `{name}` actor"))
    } else if BUILT_IN_CHANNELS.contains(&name) || config.alerting.channels.named.contains_key(name)
    {
        Some(format!(
            "is the name of the `{name}` channel's notifier actor"
        ))
    } else {
        None
    }
}

impl ActorTree {
    /// The handle of monitor `name`, starting its (supervised) actor on first use.
    pub(crate) fn monitor(&self, name: &str) -> Result<MonitorHandle, MonitorError> {
        let mut monitors = locked(&self.monitors);
        if let Some(handle) = monitors.get(name) {
            return Ok(handle.clone());
        }
        if let Some(problem) = validation::name_problem(name) {
            let shown: String = name.chars().take(64).collect();
            return Err(MonitorError::InvalidName {
                name: shown,
                problem,
            });
        }
        let config = self.config.get();
        if let Some(problem) = taken_name(name, &config) {
            return Err(MonitorError::InvalidName {
                name: name.to_owned(),
                problem,
            });
        }
        let limit = config.monitoring.max_monitors;
        if monitors.len() >= limit {
            return Err(MonitorError::TooMany { limit });
        }
        // Bounds are checked when a configuration is loaded; a hand-built one falls back to the
        // default bounds rather than failing the host.
        let store = MonitorStore::new(name, &config.monitoring).or_else(|e| {
            tracing::warn!(monitor = name, error = %e, "Invalid histogram bounds; using the defaults");
            let mut fallback = config.monitoring.clone();
            fallback.histogram = Default::default();
            MonitorStore::new(name, &fallback)
        });
        let store = store.map_err(|problem| MonitorError::InvalidName {
            name: name.to_owned(),
            problem,
        })?;
        // Sampling an operator set before a restart.
        if let Some(fraction) = locked(&self.sampling).get(name) {
            store.set_sample_every((1.0 / fraction).round().clamp(1.0, f64::from(u32::MAX)) as u32);
        }
        let actor_store = store.clone();
        let actor = self.root.start_child(
            ChildSpec::new(name, move || MonitorActor::new(actor_store.clone()))
                .mailbox_capacity(config.supervisor.mailbox_capacity),
        );
        self.monitor_refs.insert(name, actor.clone());
        self.components.add(Component::of(actor.clone()));
        let handle = MonitorHandle::new(name.into(), store, actor, self.link.clone());
        monitors.insert(name.to_owned(), handle.clone());
        Ok(handle)
    }

    /// Starts the notifier of channel `name` under the `notifiers` supervisor.
    pub(crate) fn start_channel(&self, name: &str, def: ChannelDef) -> Result<(), String> {
        let factory = def.factory(name, self.counters_of(name))?;
        let capacity = def.policy().outbox_capacity.max(1);
        let child = self
            .notifiers
            .start_child(ChildSpec::new(name, move || factory()).mailbox_capacity(capacity));
        self.channels.insert(name, child);
        locked(&self.channel_defs).insert(name.to_owned(), Channel { def });
        Ok(())
    }
}
