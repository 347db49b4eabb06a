//! [`Runtime`]: the actor tree, on threads of its own, that a host process embeds.
//!
//! `Runtime::start` spawns the actor system thread (the root supervisor and every actor under it) and
//! the watchdog's thread; handles (`MonitorHandle`) are cheap clones usable from any thread, sync or
//! async. `shutdown(deadline)` stops every actor gracefully (last started first), then joins both
//! threads, or reports that the deadline passed; dropping the runtime does the same with 5 s.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use watchkeeper_actors::alerting::{AlertStore, AlertingActor, AlertingSettings, Sources};
use watchkeeper_actors::alerting::{Comparison, RuleKind};
use watchkeeper_actors::memory::{Components, MemoryManagerActor, MemorySettings, MemoryStore};
use watchkeeper_actors::notify::{ChannelCounters, NotifierActor};
use watchkeeper_actors::tuner::{AutoThresholdRule, TunerActor, TunerSettings, TunerStore};
use watchkeeper_actors::{
    ChildRef, ChildSpec, EventBus, HostAlarm, MonitorActor, MonitorDirectory, MonitorSettings,
    MonitorStore, ProcessMonitorActor, ShutdownReport, SupervisionEvent, SupervisorRef, Watchdog,
    WatchdogActor,
};

use crate::config::Config;
use crate::error::Error;
use crate::health::{self, SystemHealthReport};
use crate::monitor_handle::MonitorHandle;

/// How handles reach the actor system: its arbiter, and how long they wait for answers.
#[derive(Clone)]
pub(crate) struct SystemLink {
    arbiter: actix::ArbiterHandle,
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
            mpsc::RecvTimeoutError::Timeout => Error::ShutdownTimedOut(timeout),
            mpsc::RecvTimeoutError::Disconnected => Error::Stopped,
        })
    }
}

impl Inner {
    /// Every monitor handle, in no particular order.
    pub(crate) fn handles(&self) -> Vec<MonitorHandle> {
        self.monitors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) link: SystemLink,
    pub(crate) root: SupervisorRef,
    pub(crate) alarm: Arc<HostAlarm>,
    events: EventBus,
    pub(crate) monitors: Mutex<HashMap<String, MonitorHandle>>,
    pub(crate) process: ChildRef<ProcessMonitorActor>,
    /// Monitors by name, as the alerting actor reads them.
    pub(crate) monitor_refs: MonitorDirectory,
    pub(crate) alerting: Option<ChildRef<AlertingActor>>,
    pub(crate) channels: Vec<(String, ChildRef<NotifierActor>, Arc<ChannelCounters>)>,
    pub(crate) tuner: ChildRef<TunerActor>,
    pub(crate) memory: ChildRef<MemoryManagerActor>,
    pub(crate) started: Instant,
    system: actix::System,
}

struct Threads {
    system: JoinHandle<()>,
    /// Behind a lock only so that `Runtime` is `Sync`; it is used once, at shutdown.
    done: Mutex<mpsc::Receiver<()>>,
    watchdog: actix::Arbiter,
}

/// The embedded runtime; see the module docs.
pub struct Runtime {
    inner: Arc<Inner>,
    threads: Option<Threads>,
    admin: Option<(actix_web::dev::ServerHandle, std::net::SocketAddr)>,
}

struct Started {
    system: actix::System,
    arbiter: actix::ArbiterHandle,
    root: SupervisorRef,
    alarm: Arc<HostAlarm>,
    events: EventBus,
    watchdog: actix::Arbiter,
}

impl Runtime {
    /// Starts the actor tree described by `config` on threads of its own, with the configured
    /// monitors. Works from synchronous hosts and from inside a host's own Tokio runtime.
    pub fn start(config: Config) -> Result<Runtime, Error> {
        let validation = config.validate();
        if validation.has_errors() {
            return Err(Error::Invalid(validation));
        }
        for finding in validation.of(crate::config::Severity::Warning) {
            tracing::warn!(field = %finding.field, message = %finding.message, "Configuration warning");
        }
        let (started_tx, started_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let supervisor_config = config.supervisor;
        let budget = config.monitoring.watchdog_budget;
        let system_thread = std::thread::Builder::new()
            .name("watchkeeper".into())
            .spawn(move || {
                let system = actix::System::new();
                let started = system.block_on(async move {
                    let events = EventBus::new(4096);
                    let watchdog =
                        Watchdog::new(budget, (budget / 5).max(Duration::from_millis(1)));
                    let watchdog_arbiter = actix::Arbiter::new();
                    WatchdogActor::start_on(
                        &watchdog_arbiter.handle(),
                        watchdog.clone(),
                        events.clone(),
                    );
                    let (root, alarm) = SupervisorRef::start_root(
                        "root",
                        supervisor_config,
                        events.clone(),
                        Some(watchdog),
                    );
                    Started {
                        system: actix::System::current(),
                        arbiter: actix::Arbiter::current(),
                        root,
                        alarm,
                        events,
                        watchdog: watchdog_arbiter,
                    }
                });
                if started_tx.send(started).is_ok() {
                    if let Err(e) = system.run() {
                        tracing::error!(error = %e, "Actor system ended with an error");
                    }
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::Start(e.to_string()))?;
        let started = started_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|e| Error::Start(format!("the actor system did not start: {e}")))?;
        let tick = config.monitoring.tick;
        let process = started.root.start_child(ChildSpec::new("process", move || {
            ProcessMonitorActor::new(tick)
        }));
        let monitor_refs = MonitorDirectory::default();
        let (alerting, channels) = if config.alerting.enabled {
            match start_alerting(
                &config,
                &started.root,
                &started.arbiter,
                monitor_refs.clone(),
            ) {
                Ok(parts) => parts,
                Err(e) => {
                    started.system.stop();
                    return Err(e);
                }
            }
        } else {
            (None, Vec::new())
        };
        let (tuner, memory) = start_optimization(
            &config,
            &started.root,
            monitor_refs.clone(),
            alerting.clone(),
        );
        let inner = Arc::new(Inner {
            tuner,
            memory,
            process,
            monitor_refs,
            alerting,
            channels,
            link: SystemLink {
                arbiter: started.arbiter,
                ask_timeout: config.monitoring.ask_timeout,
            },
            root: started.root,
            alarm: started.alarm,
            events: started.events,
            monitors: Mutex::new(HashMap::new()),
            started: Instant::now(),
            system: started.system,
            config,
        });
        let mut runtime = Runtime {
            inner,
            threads: Some(Threads {
                system: system_thread,
                done: Mutex::new(done_rx),
                watchdog: started.watchdog,
            }),
            admin: None,
        };
        if runtime.inner.config.deployment.admin_enabled {
            let inner = runtime.inner.clone();
            let started = runtime
                .inner
                .link
                .run_blocking(
                    async move { crate::admin::start(inner) },
                    Duration::from_secs(10),
                )
                .and_then(|r| r.map_err(|e| Error::Start(format!("admin server: {e}"))));
            match started {
                Ok(admin) => runtime.admin = Some(admin),
                Err(e) => {
                    let _ = runtime.shutdown_within(Duration::from_secs(5));
                    return Err(e);
                }
            }
        }
        for name in runtime.inner.config.monitoring.monitors.clone() {
            runtime.monitor(&name);
        }
        tracing::info!(
            environment = ?runtime.inner.config.deployment.environment,
            monitors = runtime.inner.config.monitoring.monitors.len(),
            "Runtime started"
        );
        Ok(runtime)
    }

    /// Where the admin HTTP server listens, when it runs.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().map(|(_, addr)| *addr)
    }

    /// The Prometheus text exposition `/metrics` serves.
    pub fn render_metrics_blocking(&self) -> Result<String, Error> {
        let inner = self.inner.clone();
        self.inner.link.run_blocking(
            async move { crate::exposition::render(&crate::admin::snapshot(&inner).await) },
            self.inner.link.ask_timeout * 2,
        )
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The handle of monitor `name`, starting its (supervised) actor on first use.
    pub fn monitor(&self, name: &str) -> MonitorHandle {
        let mut monitors = self
            .inner
            .monitors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = monitors.get(name) {
            return handle.clone();
        }
        let m = &self.inner.config.monitoring;
        let settings = MonitorSettings {
            name: name.to_owned(),
            tick: m.tick,
            window: m.window,
        };
        // Bounds are checked when a configuration is loaded; a hand-built one falls back to the
        // default bounds rather than failing the host.
        let store = match MonitorStore::new(settings.clone(), m.histogram) {
            Ok(store) => store,
            Err(e) => {
                tracing::warn!(monitor = name, error = %e, "Invalid histogram bounds; using the defaults");
                match MonitorStore::new(settings, Default::default()) {
                    Ok(store) => store,
                    Err(e) => unreachable!("default histogram bounds are valid: {e}"),
                }
            }
        };
        let actor_store = store.clone();
        let actor = self.inner.root.start_child(
            ChildSpec::new(name, move || MonitorActor::new(actor_store.clone()))
                .mailbox_capacity(m.mailbox_capacity),
        );
        self.inner.monitor_refs.insert(name, actor.clone());
        let handle = MonitorHandle::new(name.into(), store, actor, self.inner.link.clone());
        monitors.insert(name.to_owned(), handle.clone());
        handle
    }

    /// The alerting actor, when alerting is enabled.
    pub fn alerting(&self) -> Option<&ChildRef<AlertingActor>> {
        self.inner.alerting.as_ref()
    }

    /// The notifier of each enabled channel.
    pub fn channels(&self) -> impl Iterator<Item = (&str, &ChildRef<NotifierActor>)> {
        self.inner.channels.iter().map(|(n, r, _)| (n.as_str(), r))
    }

    /// The process-resource monitor.
    pub fn process_monitor(&self) -> &ChildRef<ProcessMonitorActor> {
        &self.inner.process
    }

    /// The tuner.
    pub fn tuner(&self) -> &ChildRef<TunerActor> {
        &self.inner.tuner
    }

    /// The memory manager.
    pub fn memory_manager(&self) -> &ChildRef<MemoryManagerActor> {
        &self.inner.memory
    }

    /// Every supervision event from now on (failures, restarts, stalls, escalation).
    pub fn events(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.inner.events.subscribe()
    }

    /// Whether the root supervisor gave up (restart intensity exceeded): the health is then Critical.
    pub fn escalated(&self) -> bool {
        self.inner.alarm.escalated()
    }

    /// The health report; every actor is asked with the ask timeout.
    pub async fn health(&self) -> Result<SystemHealthReport, Error> {
        let inner = self.inner.clone();
        self.inner.link.run(health::assemble(inner)).await
    }

    /// The health report, for synchronous hosts.
    pub fn health_blocking(&self) -> Result<SystemHealthReport, Error> {
        let timeout = self.inner.link.ask_timeout * 2;
        self.inner
            .link
            .run_blocking(health::assemble(self.inner.clone()), timeout)
    }

    /// Stops every actor gracefully (last started first; queued messages handled or failed back),
    /// then joins the runtime's threads, all within `deadline`.
    pub fn shutdown(mut self, deadline: Duration) -> Result<ShutdownReport, Error> {
        self.shutdown_within(deadline)
    }

    fn shutdown_within(&mut self, deadline: Duration) -> Result<ShutdownReport, Error> {
        let Some(threads) = self.threads.take() else {
            return Err(Error::Stopped);
        };
        let start = Instant::now();
        let root = self.inner.root.clone();
        let admin = self.admin.take().map(|(handle, _)| handle);
        let report = self.inner.link.run_blocking(
            async move {
                if let Some(admin) = admin {
                    admin.stop(true).await;
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
            self.inner.system.stop();
        }
        threads.watchdog.stop();
        let left = deadline.saturating_sub(start.elapsed());
        let done = threads
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(left);
        if done.is_err() {
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
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.threads.is_some() {
            let _ = self.shutdown_within(Duration::from_secs(5));
        }
    }
}

type AlertingParts = (
    Option<ChildRef<AlertingActor>>,
    Vec<(String, ChildRef<NotifierActor>, Arc<ChannelCounters>)>,
);

/// Starts the channels' notifiers (under a nested `notifiers` supervisor) and the alerting actor.
fn start_alerting(
    config: &Config,
    root: &SupervisorRef,
    arbiter: &actix::ArbiterHandle,
    monitors: MonitorDirectory,
) -> Result<AlertingParts, Error> {
    let a = &config.alerting;
    let am = &a.channels.alertmanager;
    let specs = crate::channels::specs(&a.channels, am.resend_interval * 4)?;
    let (tx, rx) = mpsc::sync_channel(1);
    let (parent, supervisor) = (root.clone(), config.supervisor);
    let spawned = arbiter.spawn(async move {
        let _ = tx.send(parent.start_supervisor("notifiers", supervisor).await);
    });
    let notifiers = spawned
        .then(|| rx.recv_timeout(Duration::from_secs(10)).ok().flatten())
        .flatten()
        .ok_or_else(|| Error::Start("the notifiers' supervisor did not start".into()))?;
    let mut channels = Vec::new();
    for spec in specs {
        let child = notifiers
            .start_child(ChildSpec::new(spec.name, spec.factory).mailbox_capacity(spec.capacity));
        channels.push((spec.name.to_owned(), child, spec.counters));
    }
    let settings = Arc::new(AlertingSettings {
        check_interval: a.check_interval,
        group_by: a.group_by.clone(),
        group_wait: a.group_wait,
        group_interval: a.group_interval,
        repeat_interval: a.repeat_interval,
        suppression_window: a.suppression_window,
        history_limit: a.history_limit,
        rules: a.rules.clone(),
        escalation: a.escalation.clone(),
        rate_limit: a.rate_limit.clone(),
        alertmanager_resend: am.enabled.then_some(am.resend_interval),
        ask_timeout: config.monitoring.ask_timeout,
        external_labels: a.external_labels.clone(),
    });
    let store = AlertStore::new();
    let sources = Sources {
        monitors,
        supervisor: Some(root.clone()),
    };
    let targets: Arc<HashMap<String, ChildRef<NotifierActor>>> = Arc::new(
        channels
            .iter()
            .map(|(n, r, _)| (n.clone(), r.clone()))
            .collect(),
    );
    let alerting = root.start_child(
        ChildSpec::new("alerting", move || {
            AlertingActor::new(
                settings.clone(),
                store.clone(),
                sources.clone(),
                targets.clone(),
            )
        })
        .mailbox_capacity(config.monitoring.mailbox_capacity),
    );
    Ok((Some(alerting), channels))
}

/// Starts the tuner and the memory manager, which measure and trim every component.
fn start_optimization(
    config: &Config,
    root: &SupervisorRef,
    monitors: MonitorDirectory,
    alerting: Option<ChildRef<AlertingActor>>,
) -> (ChildRef<TunerActor>, ChildRef<MemoryManagerActor>) {
    let (t, m) = (&config.optimization.tuning, &config.optimization.memory);
    let tuner_settings = Arc::new(TunerSettings {
        interval: t.performance_analysis_interval,
        enabled: t.enabled,
        adaptive_sampling_threshold: t.adaptive_sampling_threshold,
        high_throughput_per_second: t.high_throughput_per_second,
        min_sample_fraction: t.min_sample_fraction,
        target_samples_per_second: t.target_samples_per_second,
        min_window_operations: t.min_window_operations,
        max_window: t.max_window,
        effect_delay: t.effect_delay,
        history_limit: 1000,
        ask_timeout: config.monitoring.ask_timeout,
        auto_threshold_rules: config
            .alerting
            .rules
            .iter()
            .filter(|r| {
                r.auto_threshold
                    && r.kind == RuleKind::Threshold
                    && r.metric.is_latency()
                    && r.comparison == Comparison::Above
            })
            .filter_map(|r| {
                Some(AutoThresholdRule {
                    rule: r.name.clone(),
                    monitor: r.monitor.clone()?,
                    metric: r.metric,
                    warning: r.warning,
                    critical: r.critical,
                })
            })
            .collect(),
    });
    let (store, dir, tuner_alerting) = (TunerStore::new(), monitors.clone(), alerting.clone());
    let tuner = root.start_child(ChildSpec::new("tuner", move || {
        TunerActor::new(
            tuner_settings.clone(),
            store.clone(),
            dir.clone(),
            tuner_alerting.clone(),
        )
    }));
    let memory_settings = Arc::new(MemorySettings {
        interval: m.memory_cleanup_interval,
        limit_bytes: m.max_memory_usage_mb.saturating_mul(1 << 20),
        gc_trigger_threshold: m.gc_trigger_threshold,
        trim_keep_intervals: m.trim_keep_intervals,
        trim_keep_history: m.trim_keep_history,
        alert_after_checks: m.alert_after_checks,
        ask_timeout: config.monitoring.ask_timeout,
    });
    let components = Components {
        monitors,
        alerting,
        tuner: Some(tuner.clone()),
    };
    let store = MemoryStore::new();
    let memory = root.start_child(ChildSpec::new("memory", move || {
        MemoryManagerActor::new(memory_settings.clone(), store.clone(), components.clone())
    }));
    (tuner, memory)
}
