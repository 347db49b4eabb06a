//! Live reload: a new configuration is validated first and, only if it has no error, applied
//! section by section to what is running, without restarting what did not change.
//!
//! | section | applied how |
//! | --- | --- |
//! | `monitoring` | tick and window of every monitor at once (only when they change); new monitors in `monitors` started (one no longer listed runs until the next start); `max_monitors`, histogram bounds and export buckets for monitors created from now on |
//! | `alerting` | rules, grouping, escalation, rate limits at the next evaluation (an unchanged rule keeps its alerts; a removed rule's alerts resolve); channels whose definition changed restarted, removed ones stopped, new ones started |
//! | `memory`, `tuning` | at once, their timers re-armed |
//! | `supervisor` | needs a restart |
//! | `deployment` | the token and `metrics_enabled` at once; the admin address, port and `admin_enabled` need a restart |

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use watchkeeper_actors::alerting::Reconfigured as AlertingReconfigured;
use watchkeeper_actors::memory::Reconfigured as MemoryReconfigured;
use watchkeeper_actors::monitor::Reconfigure;
use watchkeeper_actors::tuner::Reconfigured as TunerReconfigured;
use watchkeeper_actors::Event;

use super::{locked, ActorTree};
use crate::config::{Config, Severity, Validation};
use crate::error::Error;

/// How reloads went, for `/metrics` and the health report.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// let mut bad = (*rt.config()).clone();
/// bad.monitoring.window = 0;
/// assert!(rt.reload_blocking(bad).is_err());
/// let status = rt.reload_status();
/// assert!(!status.successful);
/// assert_eq!((status.reloads, status.failures), (0, 1));
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReloadStatus {
    /// Whether the last reload (or the start) succeeded.
    pub successful: bool,
    /// When the configuration in force was applied (the start, or the last successful reload).
    pub last_success_at: DateTime<Utc>,
    /// Why the last reload failed, when it did.
    pub last_error: Option<String>,
    /// Successful reloads since start.
    pub reloads: u64,
    /// Failed reloads since start.
    pub failures: u64,
}

impl ReloadStatus {
    pub(crate) fn started() -> Self {
        ReloadStatus {
            successful: true,
            last_success_at: Utc::now(),
            last_error: None,
            reloads: 0,
            failures: 0,
        }
    }
}

/// What a successful reload changed.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// let mut faster = (*rt.config()).clone();
/// faster.monitoring.tick = std::time::Duration::from_millis(500);
/// let report = rt.reload_blocking(faster)?;
/// assert!(!report.applied.is_empty());
/// assert!(report.needs_restart.is_empty());
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// What was applied, one line each (`alerting: channel webhook started`).
    pub applied: Vec<String>,
    /// Changes that take effect only when the runtime is started again.
    pub needs_restart: Vec<String>,
}

/// The configuration was reloaded.
#[derive(Debug)]
struct ConfigReloaded<'a>(&'a ReloadReport);

impl Event for ConfigReloaded<'_> {
    const NAME: &'static str = "config_reloaded";
    fn log(&self) {
        tracing::info!(applied = ?self.0.applied, needs_restart = ?self.0.needs_restart, "Configuration reloaded");
    }
}

/// A reload was refused; nothing changed. The file, when the reload read one: its findings are
/// placed at line and column, and say nothing without it.
#[derive(Debug)]
struct ConfigReloadFailed<'a>(&'a Error, Option<&'a std::path::Path>);

impl Event for ConfigReloadFailed<'_> {
    const NAME: &'static str = "config_reload_failed";
    fn log(&self) {
        match (self.1, self.0) {
            // One line, each finding at its place in the file.
            (Some(file), Error::Invalid(validation)) => {
                let findings: Vec<String> = validation
                    .of(Severity::Error)
                    .map(|f| f.in_file(file))
                    .collect();
                tracing::error!(file = %file.display(), findings = %findings.join("; "), "Configuration reload failed; the running configuration is unchanged")
            }
            (Some(file), _) => {
                tracing::error!(file = %file.display(), error = %self.0, "Configuration reload failed; the running configuration is unchanged")
            }
            (None, _) => {
                tracing::error!(error = %self.0, "Configuration reload failed; the running configuration is unchanged")
            }
        }
    }
}

impl ActorTree {
    /// Validates `new` and applies what changed; on any error nothing changes.
    pub(crate) async fn reload(&self, new: Config) -> Result<ReloadReport, Error> {
        let validation = new.validate();
        self.reload_checked(new, validation, None).await
    }

    /// Applies `new`, already validated as `validation` says, unless that has errors.
    async fn reload_checked(
        &self,
        new: Config,
        validation: Validation,
        file: Option<&std::path::Path>,
    ) -> Result<ReloadReport, Error> {
        let _one_at_a_time = self.reloading.lock().await;
        let result = if validation.has_errors() {
            Err(Error::Invalid(validation))
        } else {
            self.apply(new).await
        };
        let mut status = locked(&self.reloads);
        match &result {
            Ok(report) => {
                status.successful = true;
                status.last_success_at = Utc::now();
                status.last_error = None;
                status.reloads += 1;
                self.events.record(ConfigReloaded(report));
            }
            Err(e) => {
                status.successful = false;
                status.last_error = Some(e.to_string());
                status.failures += 1;
                self.events.record(ConfigReloadFailed(e, file));
            }
        }
        result
    }

    /// Reads the file the runtime was started from again and reloads it.
    pub(crate) async fn reload_file(&self) -> Result<ReloadReport, Error> {
        let Some(path) = &self.config_path else {
            return Err(Error::Reload(
                "the runtime was not started from a configuration file".into(),
            ));
        };
        match Config::check_file(path) {
            // The findings are placed where their fields are written in the file.
            Ok((config, validation)) => self.reload_checked(config, validation, Some(path)).await,
            Err(e) => {
                // Counted as a failed reload like any other.
                let _one_at_a_time = self.reloading.lock().await;
                let error = Error::Config(e);
                let mut status = locked(&self.reloads);
                status.successful = false;
                status.last_error = Some(error.to_string());
                status.failures += 1;
                // the error names the file itself
                self.events.record(ConfigReloadFailed(&error, None));
                Err(error)
            }
        }
    }

    async fn apply(&self, mut new: Config) -> Result<ReloadReport, Error> {
        let old = self.config.get();
        let mut report = ReloadReport::default();
        // What only a restart changes keeps its running value, so the configuration in force says
        // what is in force, and every later reload of the same file reports it again.
        keep_until_restart(&old, &mut new, &mut report.needs_restart);
        let wanted = if new.alerting.enabled {
            new.alerting
                .channels
                .definitions_for(new.alerting.check_interval)
        } else {
            Vec::new()
        };
        // Every secret of a channel to (re)start must resolve before anything changes.
        {
            let running = locked(&self.channel_defs);
            for (name, def) in &wanted {
                if running.get(name).is_none_or(|c| c.def != *def) {
                    def.factory(name, self.counters_of(name))
                        .map_err(Error::Reload)?;
                }
            }
        }
        // A monitor no longer listed runs on, and stays listed in the configuration in force, so
        // every later reload of the same file names it again.
        for name in &old.monitoring.monitors {
            if !new.monitoring.monitors.contains(name) && self.handle(name).is_some() {
                report.needs_restart.push(format!(
                    "monitoring.monitors: {name}, no longer listed, runs until the next start"
                ));
                new.monitoring.monitors.push(name.clone());
            }
        }
        self.config.set(new.clone());

        let (m, n) = (&old.monitoring, &new.monitoring);
        // Only a changed tick or window reaches the monitors: a window the tuner set stays, with
        // its samples, through a reload that changes something else.
        if (m.tick, m.window) != (n.tick, n.window) {
            let monitoring = Arc::new(n.clone());
            for handle in self.handles() {
                let _ = handle.actor().tell(Reconfigure(monitoring.clone()));
            }
            report
                .applied
                .push("monitoring: tick and window of every monitor".into());
        }
        if m.histogram != n.histogram {
            report
                .applied
                .push("monitoring.histogram: for monitors created from now on".into());
        }
        if (&m.buckets, &m.monitor_buckets) != (&n.buckets, &n.monitor_buckets) {
            report.applied.push(
                "monitoring.buckets: exported by monitors created from now on; the running ones keep theirs until the next start".into(),
            );
        }
        if m.max_monitors != n.max_monitors {
            report
                .applied
                .push("monitoring.max_monitors: for monitors created from now on".into());
        }
        for name in &n.monitors {
            if self.handle(name).is_none() {
                match self.monitor(name) {
                    Ok(_) => report
                        .applied
                        .push(format!("monitoring: monitor {name} started")),
                    Err(e) => report
                        .applied
                        .push(format!("monitoring: monitor {name} not started: {e}")),
                }
            }
        }

        if old.alerting != new.alerting {
            self.alerting_config.set(new.alerting.clone());
            let running: Vec<(String, bool)> = {
                let defs = locked(&self.channel_defs);
                defs.iter()
                    .map(|(name, c)| {
                        let keep = wanted
                            .iter()
                            .any(|(n, d)| *n == name.as_str() && *d == c.def);
                        (name.clone(), keep)
                    })
                    .collect()
            };
            for (name, keep) in &running {
                if !keep {
                    self.notifiers.stop_child(name).await;
                    self.channels.remove(name);
                    locked(&self.channel_defs).remove(name);
                    report
                        .applied
                        .push(format!("alerting: channel {name} stopped"));
                }
            }
            for (name, def) in wanted {
                if !running.iter().any(|(n, keep)| *n == name && *keep) {
                    self.start_channel(&name, def).map_err(Error::Reload)?;
                    report
                        .applied
                        .push(format!("alerting: channel {name} started"));
                }
            }
            let _ = self.alerting.tell(AlertingReconfigured);
            report.applied.push("alerting: rules and routing".into());
        }

        if old.memory != new.memory {
            self.memory_config.set(new.memory.clone());
            let _ = self.memory.tell(MemoryReconfigured);
            report.applied.push("memory".into());
        }
        if old.tuning != new.tuning {
            self.tuning_config.set(new.tuning.clone());
            let _ = self.tuner.tell(TunerReconfigured);
            report.applied.push("tuning".into());
        }
        if old.probes != new.probes {
            self.probes_config.set(new.probes.clone());
            let _ = self.probe.tell(watchkeeper_actors::probe::RunChecks);
            report.applied.push("probes".into());
        }
        let (a, b) = (&old.deployment, &new.deployment);
        if (&a.admin_token, a.metrics_enabled) != (&b.admin_token, b.metrics_enabled) {
            report
                .applied
                .push("deployment: admin token and metrics_enabled".into());
        }
        if a.health != b.health {
            report
                .applied
                .push("deployment.health: at the next health report".into());
        }
        Ok(report)
    }
}

/// Puts back in `new` the running values of what takes effect only at the next start, naming each
/// part that differed in `needs_restart`.
fn keep_until_restart(old: &Config, new: &mut Config, needs_restart: &mut Vec<String>) {
    let mut keep = |what: &str| needs_restart.push(what.to_owned());
    // The data directory is chosen once, at start (`watchkeeper run` may choose it), and the state
    // is written by an actor started with its interval.
    if put_back(&old.storage, &mut new.storage) {
        keep("storage: the data directory and how often it is written");
    }
    if put_back(&old.supervisor, &mut new.supervisor) {
        keep("supervisor: strategy, intensity, backoff, mailboxes and timeouts");
    }
    let (a, b) = (&old.deployment, &mut new.deployment);
    let mut listening = (b.bind_address.clone(), b.health_check_port, b.admin_enabled);
    if put_back(
        &(a.bind_address.clone(), a.health_check_port, a.admin_enabled),
        &mut listening,
    ) {
        keep("deployment: the admin server's address, port and admin_enabled");
    }
    (b.bind_address, b.health_check_port, b.admin_enabled) = listening;
    let mut logging = (b.environment, b.log_level.clone());
    if put_back(&(a.environment, a.log_level.clone()), &mut logging) {
        keep("deployment: environment and log_level");
    }
    (b.environment, b.log_level) = logging;
    // The admin server takes its limits when it starts.
    if put_back(&a.admin_limits, &mut b.admin_limits) {
        keep("deployment.admin_limits: the admin server's connections and time limits");
    }
    // The recorder and the span layer take the section when the host makes them.
    if put_back(&old.instrumentation, &mut new.instrumentation) {
        keep("instrumentation: the metrics recorder and span layers take it at the next start");
    }
}

/// Puts `old` back in `new`; whether they differed.
fn put_back<T: PartialEq + Clone>(old: &T, new: &mut T) -> bool {
    let differed = new != old;
    new.clone_from(old);
    differed
}
