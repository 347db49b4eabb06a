//! The supervision tree at work, shown in the log: a root with a nested supervisor, each strategy
//! restarting what it should, backoff between restarts, and the root escalating to the host when its
//! restart intensity is exceeded — while the host process carries on.
//!
//! ```text
//! root (one_for_one, at most 3 restarts in 10 s)
//!  ├─ cache     (permanent)
//!  ├─ pipeline  (nested supervisor, rest_for_one)
//!  │   ├─ reader
//!  │   ├─ parser
//!  │   └─ writer
//!  └─ reporter  (transient)
//! ```
//!
//! `cargo run --example supervision`

use std::time::Duration;

use watchkeeper::actors::{
    Backoff, ChildActor, ChildContext, ChildSpec, EventBus, Handles, Message, RestartIntensity,
    RestartType, Strategy, SupervisionEvent, SupervisorConfig, SupervisorRef,
};

/// A worker that answers `Ping` with how many times it has been built, and panics on `Crash`.
struct Worker {
    name: &'static str,
    generation: u32,
}

impl ChildActor for Worker {}

struct Ping;
impl Message for Ping {
    type Result = u32;
}
impl Handles<Ping> for Worker {
    fn handle(&mut self, _: Ping, _: &mut ChildContext<'_, Self>) -> u32 {
        self.generation
    }
}

struct Crash;
impl Message for Crash {
    type Result = ();
}
impl Handles<Crash> for Worker {
    fn handle(&mut self, _: Crash, _: &mut ChildContext<'_, Self>) {
        panic!("{} hit a bug", self.name);
    }
}

fn worker(name: &'static str) -> impl Fn() -> Worker + Send + Sync {
    let built = std::sync::atomic::AtomicU32::new(0);
    move || Worker {
        name,
        generation: built.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
    }
}

fn config(strategy: Strategy, max_restarts: u32) -> SupervisorConfig {
    SupervisorConfig {
        strategy,
        intensity: RestartIntensity {
            max_restarts,
            within: Duration::from_secs(10),
        },
        backoff: Backoff {
            min: Duration::from_millis(50),
            max: Duration::from_secs(1),
            jitter: 0.1,
            reset_after: Duration::from_secs(10),
        },
        ..SupervisorConfig::default()
    }
}

fn main() {
    let system = actix::System::new();
    system.block_on(async {
        // Every line below the headers is a supervision event, printed in the order the tree
        // emitted it: the workers' own hooks run on their arbiters and would race the log.
        let events = EventBus::new(1024);
        let mut log = events.subscribe();
        let mut show = move || {
            while let Ok(e) = log.try_recv() {
                print_event(e);
            }
        };
        let ask = Duration::from_secs(2);
        let (root, alarm) = SupervisorRef::start_root("root", config(Strategy::OneForOne, 3), events, None);
        let cache = root.start_child(ChildSpec::new("cache", worker("cache")));
        let pipeline = root.start_supervisor("pipeline", config(Strategy::RestForOne, 5)).await.expect("nested supervisor");
        let reader = pipeline.start_child(ChildSpec::new("reader", worker("reader")));
        let parser = pipeline.start_child(ChildSpec::new("parser", worker("parser")));
        let writer = pipeline.start_child(ChildSpec::new("writer", worker("writer")));
        let reporter = root.start_child(ChildSpec::new("reporter", worker("reporter")).restart(RestartType::Transient));
        for c in [&reader, &parser, &writer] {
            c.ask(Ping, ask).await.unwrap();
        }
        cache.ask(Ping, ask).await.unwrap();
        reporter.ask(Ping, ask).await.unwrap();
        show();

        println!("\n== one_for_one: the cache crashes; only the cache is rebuilt");
        let _ = cache.ask(Crash, ask).await;
        let instance = cache.ask(Ping, ask).await.unwrap();
        show();
        println!("   cache is now instance {instance}");

        println!("\n== rest_for_one: the parser crashes; parser and writer are rebuilt, the reader is not");
        let _ = parser.ask(Crash, ask).await;
        let gens: Vec<u32> = futures_util::future::join_all([&reader, &parser, &writer].map(|c| c.ask(Ping, ask))).await.into_iter().map(|r| r.unwrap()).collect();
        show();
        println!("   reader, parser, writer instances: {gens:?}");

        println!("\n== backoff: the cache crashes twice more, each restart waits longer");
        for _ in 0..2 {
            let _ = cache.ask(Crash, ask).await;
            cache.ask(Ping, ask).await.unwrap();
        }
        show();

        println!("\n== intensity: one more crash is the 4th restart in 10 s; the root escalates to the host");
        let _ = cache.ask(Crash, ask).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        show();
        println!("   host sees escalated = {} ({})", alarm.escalated(), alarm.reason().unwrap_or_default());
        println!("   a message to the cache now: {:?}", cache.ask(Ping, ask).await.map_err(|e| e.to_string()));
        println!("\nthe host process is still running.");
    });
}

fn print_event(event: SupervisionEvent) {
    match event {
        SupervisionEvent::ChildStarted {
            child, restarts, ..
        } => println!("   {child} started (instance {})", restarts + 1),
        SupervisionEvent::ChildFailed { child, panic, .. } => {
            println!("!! {child} failed: {panic}")
        }
        SupervisionEvent::RestartScheduled { child, backoff, .. } => {
            println!(".. restart of {child} in {backoff:?}")
        }
        SupervisionEvent::Escalated {
            supervisor,
            restarts,
            within,
        } => {
            println!("!! {supervisor} escalated: {restarts} restarts within {within:?}")
        }
        SupervisionEvent::ChildStopped { child, .. } => println!("   {child} stopped for good"),
        _ => {}
    }
}
