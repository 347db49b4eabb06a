//! Shared test helpers: a probe actor whose every site can be made to panic on command, and an HTTP client.
#![allow(dead_code)]

pub mod fed;
pub mod host;
pub mod http;
pub mod instance;
pub mod process;
pub mod receiver;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use watchkeeper_actors::{ChildActor, ChildContext, Handles, Message, Overflow};

/// What the probe's factory and hooks do, shared across its restarts.
#[derive(Default)]
pub struct ProbeScript {
    /// Instances built so far.
    pub builds: AtomicU64,
    /// The next this many builds panic in the factory.
    pub factory_panics: AtomicU32,
    /// The next this many `started` hooks panic.
    pub started_panics: AtomicU32,
    /// The next this many `stopping` hooks panic.
    pub stopping_panics: AtomicU32,
    /// Names of instances in the order their `started` / `stopping` hooks ran.
    pub log: Mutex<Vec<String>>,
}

impl ProbeScript {
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

pub struct Probe {
    pub name: &'static str,
    pub instance: u64,
    pub script: Arc<ProbeScript>,
    pub handled: u64,
}

pub fn probe(name: &'static str, script: Arc<ProbeScript>) -> impl Fn() -> Probe + Send + Sync {
    move || {
        if ProbeScript::take(&script.factory_panics) {
            panic!("factory of {name} failed");
        }
        let instance = script.builds.fetch_add(1, Ordering::SeqCst) + 1;
        Probe {
            name,
            instance,
            script: script.clone(),
            handled: 0,
        }
    }
}

impl ChildActor for Probe {
    fn started(&mut self, _ctx: &mut ChildContext<'_, Self>) {
        if ProbeScript::take(&self.script.started_panics) {
            panic!("started hook of {} failed", self.name);
        }
        self.script
            .log
            .lock()
            .unwrap()
            .push(format!("start {}", self.name));
    }
    fn stopping(&mut self, _ctx: &mut ChildContext<'_, Self>) {
        self.script
            .log
            .lock()
            .unwrap()
            .push(format!("stop {}", self.name));
        if ProbeScript::take(&self.script.stopping_panics) {
            panic!("stopping hook of {} failed", self.name);
        }
    }
}

/// Replies with the instance number (it grows with every rebuild).
pub struct Ping;
impl Message for Ping {
    type Result = u64;
}
impl Handles<Ping> for Probe {
    fn handle(&mut self, _: Ping, _: &mut ChildContext<'_, Self>) -> u64 {
        self.handled += 1;
        self.instance
    }
}

/// Panics in the handler.
pub struct Crash;
impl Message for Crash {
    type Result = ();
}
impl Handles<Crash> for Probe {
    fn handle(&mut self, _: Crash, _: &mut ChildContext<'_, Self>) {
        panic!("handler of {} crashed", self.name);
    }
}

/// Blocks the actor's thread (for the watchdog and shutdown timeouts).
pub struct Block(pub Duration);
impl Message for Block {
    type Result = ();
}
impl Handles<Block> for Probe {
    fn handle(&mut self, msg: Block, _: &mut ChildContext<'_, Self>) {
        std::thread::sleep(msg.0);
    }
}

/// Starts an interval timer that counts ticks and panics on tick `panic_on` (0 = never).
pub struct StartTicking {
    pub every: Duration,
    pub panic_on: u64,
    pub ticks: Arc<AtomicU64>,
}
impl Message for StartTicking {
    type Result = ();
}
impl Handles<StartTicking> for Probe {
    fn handle(&mut self, msg: StartTicking, ctx: &mut ChildContext<'_, Self>) {
        let mut n = 0;
        ctx.run_interval(msg.every, move |_act, _ctx| {
            n += 1;
            msg.ticks.fetch_add(1, Ordering::SeqCst);
            if n == msg.panic_on {
                panic!("timer tick {n} failed");
            }
        });
    }
}

/// Asks the instance to stop normally.
pub struct StopNormally;
impl Message for StopNormally {
    type Result = ();
}
impl Handles<StopNormally> for Probe {
    fn handle(&mut self, _: StopNormally, ctx: &mut ChildContext<'_, Self>) {
        ctx.stop();
    }
}

/// Messages of three overflow policies, each replying with its sequence number.
pub struct Rejecting(pub u32);
impl Message for Rejecting {
    type Result = u32;
}
pub struct Newest(pub u32);
impl Message for Newest {
    type Result = u32;
    const OVERFLOW: Overflow = Overflow::DropNewest;
}
pub struct Oldest(pub u32);
impl Message for Oldest {
    type Result = u32;
    const OVERFLOW: Overflow = Overflow::DropOldest;
}
impl Handles<Rejecting> for Probe {
    fn handle(&mut self, m: Rejecting, _: &mut ChildContext<'_, Self>) -> u32 {
        m.0
    }
}
impl Handles<Newest> for Probe {
    fn handle(&mut self, m: Newest, _: &mut ChildContext<'_, Self>) -> u32 {
        m.0
    }
}
impl Handles<Oldest> for Probe {
    fn handle(&mut self, m: Oldest, _: &mut ChildContext<'_, Self>) -> u32 {
        m.0
    }
}

pub const ASK: Duration = Duration::from_secs(1);

/// Uniform noise in [-0.5, 0.5), the same sequence for the same seed.
pub fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// Runs `test` in a new actix system with a root supervisor (default configuration).
pub fn with_root<T, F: std::future::Future<Output = T>>(
    test: impl FnOnce(watchkeeper_actors::SupervisorRef) -> F,
) -> T {
    actix::System::new().block_on(async move {
        let (root, _) = watchkeeper_actors::SupervisorRef::start_root(
            "root",
            watchkeeper_actors::SupervisorConfig::default(),
            watchkeeper_actors::EventBus::default(),
            None,
        );
        test(root).await
    })
}
