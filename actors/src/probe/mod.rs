//! Dependency checks: [`ProbeActor`] runs every configured check (TCP connects, HTTP GETs) and every
//! check the host registered, all at once, every `interval`, each within `timeout`, and keeps what
//! it saw in a [`Store`] that outlives its restarts: whether each check passes, how long it took,
//! its last error, and how many times in a row it failed. Readiness reads the store directly.

mod check;
mod config;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

pub use self::check::CheckFn;
pub use self::config::{ProbeDef, ProbeTarget, ProbesConfig};
use crate::kernel::duration_serde;
use crate::{ChildActor, ChildContext, Handles, Live, Message, Store};

/// What one check last saw.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// use std::sync::Arc;
/// use watchkeeper_actors::probe::*;
/// use watchkeeper_actors::{Live, Store};
///
/// let state = Store::new(ProbeState::default());
/// let check: CheckFn = Arc::new(|| Box::pin(async { Err("connection refused".to_owned()) }));
/// state.lock().registered.insert("db", true, check);
/// let shared = state.clone();
/// let probe = root.start_child(ChildSpec::new("probe", move || {
///     ProbeActor::new(Live::new(ProbesConfig::default()), shared.clone())
/// }));
/// probe.ask(RunChecks, t).await?;
/// let db = loop {
///     match probe.ask(GetChecks, t).await?.pop() {
///         Some(status) if status.runs > 0 => break status,
///         _ => tokio::time::sleep(Duration::from_millis(5)).await,
///     }
/// };
/// assert_eq!((db.name.as_str(), db.kind, db.up), ("db", "registered", Some(false)));
/// assert_eq!(db.last_error.as_deref(), Some("connection refused"));
/// assert_eq!(state.lock().failing_critical().len(), 1);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckStatus {
    /// The check.
    pub name: String,
    /// `tcp`, `http` or `registered`.
    pub kind: &'static str,
    /// Whether its failure makes the process not ready.
    pub critical: bool,
    /// Whether it passes: it has not failed `failures_before_down` times in a row. `None` before
    /// it first ran.
    pub up: Option<bool>,
    /// How long its last run took.
    #[serde(
        rename = "latency_seconds",
        serialize_with = "duration_serde::seconds_opt"
    )]
    pub latency: Option<Duration>,
    /// Its last error, kept after it passes again until the next failure.
    pub last_error: Option<String>,
    /// When its last error happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// When it last ran.
    pub checked_at: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Runs and failures since start.
    pub runs: u64,
    /// Failed runs since start.
    pub failures: u64,
}

impl CheckStatus {
    fn new(name: &str, kind: &'static str, critical: bool) -> Self {
        CheckStatus {
            name: name.to_owned(),
            kind,
            critical,
            up: None,
            latency: None,
            last_error: None,
            last_error_at: None,
            checked_at: None,
            consecutive_failures: 0,
            runs: 0,
            failures: 0,
        }
    }
}

/// The host's registered checks.
#[derive(Default)]
pub struct Registered {
    /// Each check: whether it is critical, the function, and its runs.
    checks: BTreeMap<String, (bool, CheckFn, Arc<check::Runs>)>,
}

impl Registered {
    /// Adds (or replaces) check `name`.
    pub fn insert(&mut self, name: &str, critical: bool, check: CheckFn) {
        self.checks
            .insert(name.to_owned(), (critical, check, Arc::default()));
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.checks.keys()).finish()
    }
}

/// What the probe actor keeps across restarts, and what readiness reads.
#[derive(Debug, Default)]
pub struct ProbeState {
    /// The registered checks.
    pub registered: Registered,
    /// Every check's status, by name.
    pub status: BTreeMap<String, CheckStatus>,
}

impl ProbeState {
    /// The critical checks that fail now.
    pub fn failing_critical(&self) -> Vec<&CheckStatus> {
        self.status
            .values()
            .filter(|s| s.critical && s.up == Some(false))
            .collect()
    }
}

/// One check of a round, about to run.
struct Run {
    name: String,
    kind: &'static str,
    critical: bool,
    attempt: LocalBoxFuture<'static, Result<(), String>>,
}

/// What one check of a round found.
struct Outcome {
    name: String,
    kind: &'static str,
    critical: bool,
    took: Duration,
    result: Result<(), String>,
}

/// Runs the checks; see the module docs.
pub struct ProbeActor {
    config: Live<ProbesConfig>,
    state: Arc<Store<ProbeState>>,
    /// Whether a round is under way (a slow round is not overlapped by the next).
    running: bool,
    /// Whether another round was asked for while one ran: it follows at once.
    again: bool,
    /// The timer, and the interval it was set with (a reload may change it).
    timer: Option<(crate::TimerHandle, Duration)>,
    /// Registered checks run on the actor's own thread ([`ProbeActor::on_paused_clock`]).
    inline_checks: bool,
}

impl ProbeActor {
    /// A probe actor reading `config` and keeping its findings in `state`.
    pub fn new(config: Live<ProbesConfig>, state: Arc<Store<ProbeState>>) -> Self {
        ProbeActor {
            config,
            state,
            running: false,
            again: false,
            timer: None,
            inline_checks: false,
        }
    }

    /// Runs the host's registered checks on the actor's own thread, as a paused clock needs: on
    /// the blocking pool (the default) a check would hold the paused clock still while it runs.
    /// A check that blocks then holds up the actor's thread until it returns.
    pub fn on_paused_clock(mut self) -> Self {
        self.inline_checks = true;
        self
    }

    /// Sets the timer to the configured interval, unless it has it already.
    fn arm(&mut self, ctx: &mut ChildContext<'_, Self>) {
        let every = self.config.get().interval;
        if self.timer.is_some_and(|(_, e)| e == every) {
            return;
        }
        if let Some((old, _)) = self.timer.take() {
            ctx.cancel(old);
        }
        let handle = ctx.run_interval(every, |act, ctx| act.round(ctx));
        self.timer = Some((handle, every));
    }

    fn round(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
        if self.running {
            // Asked while a round runs (a reload changed the checks): another follows it at once.
            self.again = true;
            return;
        }
        let config = self.config.get();
        let timeout = config.timeout;
        let mut runs: Vec<Run> = Vec::new();
        for def in &config.checks {
            let kind = match def.target {
                ProbeTarget::Tcp(_) => "tcp",
                ProbeTarget::Http(_) => "http",
            };
            let attempt: LocalBoxFuture<'static, Result<(), String>> =
                match check::parse_target(&def.target) {
                    Ok(p) => Box::pin(check::run(p, timeout)),
                    Err(e) => Box::pin(async move { Err(e) }),
                };
            runs.push(Run {
                name: def.name.clone(),
                kind,
                critical: def.critical,
                attempt,
            });
        }
        {
            let state = self.state.lock();
            for (name, (critical, f, check_runs)) in &state.registered.checks {
                if config.checks.iter().any(|c| &c.name == name) {
                    continue;
                }
                runs.push(Run {
                    name: name.clone(),
                    kind: "registered",
                    critical: *critical,
                    attempt: Box::pin(check::run_registered(
                        f.clone(),
                        timeout,
                        check_runs.clone(),
                        self.inline_checks,
                    )),
                });
            }
        }
        {
            // Checks no longer configured or registered are forgotten.
            let mut state = self.state.lock();
            state
                .status
                .retain(|name, _| runs.iter().any(|r| &r.name == name));
        }
        if runs.is_empty() {
            return;
        }
        self.running = true;
        let all = futures_util::future::join_all(runs.into_iter().map(|run| async move {
            let started = tokio::time::Instant::now();
            let result = run.attempt.await;
            Outcome {
                name: run.name,
                kind: run.kind,
                critical: run.critical,
                took: started.elapsed(),
                result,
            }
        }));
        ctx.spawn_then(all, |act, results, ctx| {
            act.running = false;
            act.record(results);
            if std::mem::take(&mut act.again) {
                act.round(ctx);
            }
        });
    }

    fn record(&mut self, results: Vec<Outcome>) {
        let config = self.config.get();
        let down_after = config.failures_before_down.max(1);
        let now = Utc::now();
        let mut state = self.state.lock();
        for Outcome {
            name,
            kind,
            critical,
            took,
            result: outcome,
        } in results
        {
            // A check removed (by a reload) while its last round ran is not brought back.
            let configured = config.checks.iter().any(|c| c.name == name);
            if !configured && !state.registered.checks.contains_key(&name) {
                continue;
            }
            let s = state
                .status
                .entry(name.clone())
                .or_insert_with(|| CheckStatus::new(&name, kind, critical));
            s.kind = kind;
            s.critical = critical;
            s.runs += 1;
            s.latency = Some(took);
            s.checked_at = Some(now);
            match outcome {
                Ok(()) => {
                    if s.up == Some(false) {
                        tracing::info!(check = %name, "Dependency check passes again");
                    }
                    s.consecutive_failures = 0;
                    s.up = Some(true);
                }
                Err(e) => {
                    s.failures += 1;
                    s.consecutive_failures += 1;
                    // `failures_before_down` spares a dependency that was up a passing fault;
                    // one never reached yet is down at its first failure, not taken as up.
                    let down = s.consecutive_failures >= down_after || s.up.is_none();
                    if down && s.up != Some(false) {
                        tracing::warn!(check = %name, critical, error = %e, "Dependency check fails");
                    }
                    s.last_error = Some(e);
                    s.last_error_at = Some(now);
                    if down {
                        s.up = Some(false);
                    }
                }
            }
        }
    }
}

impl ChildActor for ProbeActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        // A restart mid-round loses that round; this one starts at once.
        self.running = false;
        self.again = false;
        self.timer = None;
        self.round(ctx);
    }
}

/// Run every check now (besides the timer); answered once the round has started.
#[derive(Debug)]
pub struct RunChecks;
impl Message for RunChecks {
    type Result = ();
    const OVERFLOW: crate::Overflow = crate::Overflow::DropNewest;
}
impl Handles<RunChecks> for ProbeActor {
    fn handle(&mut self, _: RunChecks, ctx: &mut ChildContext<'_, Self>) {
        self.round(ctx);
    }
}

/// Ask for every check's status.
#[derive(Debug)]
pub struct GetChecks;
impl Message for GetChecks {
    type Result = Vec<CheckStatus>;
}
impl Handles<GetChecks> for ProbeActor {
    fn handle(&mut self, _: GetChecks, _: &mut ChildContext<'_, Self>) -> Vec<CheckStatus> {
        self.state.lock().status.values().cloned().collect()
    }
}
