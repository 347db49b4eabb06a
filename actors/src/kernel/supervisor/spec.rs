//! How children are described and restarted: strategies, restart types, intensity, backoff.
//!
//! Which children a failure restarts ([`Strategy`]):
//!
//! | strategy | the failed child | children started before it | children started after it |
//! | --- | --- | --- | --- |
//! | `one_for_one` (default) | ✓ | ✗ | ✗ |
//! | `one_for_all` | ✓ | ✓ | ✓ |
//! | `rest_for_one` | ✓ | ✗ | ✓ |
//!
//! Whether a child comes back ([`RestartType`]):
//!
//! | restart type | after a panic | after a normal exit (`ctx.stop()`) |
//! | --- | --- | --- |
//! | `permanent` (default) | ✓ | ✓ |
//! | `transient` | ✓ | ✗ |
//! | `temporary` | ✗ | ✗ |
//!
//! The defaults in words: one for one; at most 10 restarts in any minute, the 11th escalates; a
//! child's first failure restarts it at once, the next after 10 ms, doubling up to 10 s, each spread
//! by ±20 %, back to no delay after a quiet minute.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::child::ChildActor;
use crate::kernel::host::Factory;
use crate::kernel::validation::{Validation, A_DAY, MAX_CAPACITY};

/// Which children restart when one fails.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{Strategy, SupervisorConfig};
///
/// let config = SupervisorConfig { strategy: Strategy::RestForOne, ..Default::default() };
/// assert!(!config.validate().has_errors());
/// assert_eq!(SupervisorConfig::default().strategy, Strategy::OneForOne);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// Every child: all are stopped (last started first) and restarted in start order.
    OneForAll,
    /// The failed child and every child started after it.
    RestForOne,
}

/// When a child is restarted.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{ChildActor, ChildSpec, RestartType};
///
/// struct Job;
/// impl ChildActor for Job {}
/// // Restarted after a panic, retired once it stops by itself.
/// let _spec = ChildSpec::new("job", || Job).restart(RestartType::Transient);
/// assert_eq!(RestartType::default(), RestartType::Permanent);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartType {
    /// Always: after a failure and after a normal exit.
    #[default]
    Permanent,
    /// After a failure only; a normal exit (`ctx.stop()`) retires it.
    Transient,
    /// Never: a failure or an exit retires it.
    Temporary,
}

/// At most `max_restarts` restarts within `within`; one more and the supervisor escalates. The
/// default is 10 restarts in a minute.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{RestartIntensity, SupervisorConfig};
///
/// let intensity = RestartIntensity { max_restarts: 3, within: Duration::from_secs(10) };
/// let config = SupervisorConfig { intensity, ..Default::default() };
/// assert!(!config.validate().has_errors());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestartIntensity {
    /// Restarts allowed in the window; one more and the supervisor gives up on its children.
    pub max_restarts: u32,
    /// The sliding window restarts are counted in.
    #[serde(with = "crate::kernel::duration_serde")]
    pub within: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        RestartIntensity {
            max_restarts: 10,
            within: Duration::from_secs(60),
        }
    }
}

/// Delay before a restart: none for a child's first failure after a quiet period, then `min` doubling
/// up to `max`, each spread by `jitter` (a fraction, 0.2 = plus or minus 20 %).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::Backoff;
///
/// let backoff = Backoff::default();
/// assert_eq!(backoff.base_delay(0), Duration::ZERO);
/// assert_eq!(backoff.base_delay(2), Duration::from_millis(20));
/// assert_eq!(backoff.base_delay(30), backoff.max);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    /// Delay before the second consecutive restart of a child.
    #[serde(with = "crate::kernel::duration_serde")]
    pub min: Duration,
    /// The largest delay.
    #[serde(with = "crate::kernel::duration_serde")]
    pub max: Duration,
    /// Random spread of each delay, as a fraction of it (0 to 1).
    pub jitter: f64,
    /// A child quiet for this long starts again from no delay.
    #[serde(with = "crate::kernel::duration_serde")]
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(10),
            max: Duration::from_secs(10),
            jitter: 0.2,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before restart number `attempt` (0-based) of a burst of failures, before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow((attempt - 1).min(30));
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// How a supervisor restarts its children, and how the tree's actors are run: their mailboxes,
/// how long a question to one may take, and when the watchdog reports a blocked handler.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::SupervisorConfig;
///
/// let config = SupervisorConfig { ask_timeout: Duration::from_secs(5), ..Default::default() };
/// assert!(config.validate().findings.is_empty());
/// let small = SupervisorConfig { mailbox_capacity: 10, ..config };
/// assert_eq!(small.validate().findings[0].field, "mailbox_capacity");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Which children restart when one fails: `one_for_one`, `one_for_all` or `rest_for_one`.
    pub strategy: Strategy,
    /// Restarts allowed in a sliding window before escalating to the host.
    pub intensity: RestartIntensity,
    /// Delay between restarts of a failing child.
    pub backoff: Backoff,
    /// Messages each actor's mailbox holds before its overflow policy (refuse, drop the newest or
    /// the oldest) applies.
    pub mailbox_capacity: usize,
    /// How long a question to an actor may take before it is reported as not responding.
    #[serde(with = "crate::kernel::duration_serde")]
    pub ask_timeout: Duration,
    /// A handler running longer than this is reported by the watchdog.
    #[serde(with = "crate::kernel::duration_serde")]
    pub watchdog_budget: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            strategy: Strategy::OneForOne,
            intensity: RestartIntensity::default(),
            backoff: Backoff::default(),
            mailbox_capacity: 1024,
            ask_timeout: Duration::from_secs(2),
            watchdog_budget: Duration::from_millis(250),
        }
    }
}

impl SupervisorConfig {
    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        let b = &self.backoff;
        if !(0.0..=1.0).contains(&b.jitter) {
            v.error(
                "backoff.jitter",
                format!("must be within 0 and 1, not {}", b.jitter),
            );
        }
        if b.min > b.max {
            v.error("backoff", "min must not exceed max");
        }
        for (field, d) in [
            ("backoff.max", b.max),
            ("backoff.reset_after", b.reset_after),
        ] {
            if d > A_DAY.0 {
                v.duration(field, d, A_DAY);
            }
        }
        if self.intensity.max_restarts == 0 {
            v.warning("intensity.max_restarts", "0: the first failure escalates");
        }
        v.duration("intensity.within", self.intensity.within, A_DAY);
        v.count(
            "mailbox_capacity",
            self.mailbox_capacity as u64,
            MAX_CAPACITY,
        );
        if self.mailbox_capacity > 0 && self.mailbox_capacity < 1000 {
            v.warning(
                "mailbox_capacity",
                format!(
                    "{} is small; bursts will be refused (at least 1000 suggested)",
                    self.mailbox_capacity
                ),
            );
        }
        v.duration("ask_timeout", self.ask_timeout, A_DAY);
        v.duration("watchdog_budget", self.watchdog_budget, A_DAY);
        v
    }
}

/// How to build and run one child.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildSpec, EventBus, RestartType, SupervisorConfig};
/// use watchkeeper_actors::SupervisorRef;
///
/// struct Worker;
/// impl ChildActor for Worker {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let spec = ChildSpec::new("worker", || Worker)
///         .restart(RestartType::Temporary)
///         .mailbox_capacity(64)
///         .shutdown_timeout(Duration::from_secs(1));
///     let worker = root.start_child(spec);
///     assert_eq!(worker.mailbox_stats().capacity, 64);
///     root.shutdown().await;
/// });
/// ```
pub struct ChildSpec<A> {
    pub(crate) name: Arc<str>,
    pub(crate) factory: Factory<A>,
    pub(crate) restart: RestartType,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) mailbox_capacity: usize,
}

impl<A: ChildActor> ChildSpec<A> {
    /// A permanent child named `name`, built by `factory` on every start and restart, with a
    /// 1,024-message mailbox and a 5 s shutdown timeout.
    pub fn new(name: impl Into<String>, factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        ChildSpec {
            name: name.into().into(),
            factory: Arc::new(factory),
            restart: RestartType::Permanent,
            shutdown_timeout: Duration::from_secs(5),
            mailbox_capacity: 1024,
        }
    }

    /// When the child is restarted.
    pub fn restart(mut self, restart: RestartType) -> Self {
        self.restart = restart;
        self
    }

    /// How long a graceful stop may take before the child is reported as timed out.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The mailbox capacity (at least 1).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }
}
