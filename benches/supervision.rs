//! Supervision costs: panic to restarted-and-answering, and an ask round trip through the supervised,
//! bounded send path beside a raw actix `send`, in the same run. Run: `cargo bench --bench supervision`.

use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler, Message as ActixMessage};
use criterion::{criterion_group, criterion_main, Criterion};
use watchkeeper::actors::{
    Backoff, ChildActor, ChildContext, ChildSpec, EventBus, Handles, Message, RestartIntensity,
    Strategy, SupervisorConfig, SupervisorRef,
};

struct Probe(u64);
impl ChildActor for Probe {}

struct Ping;
impl Message for Ping {
    type Result = u64;
}
impl Handles<Ping> for Probe {
    fn handle(&mut self, _: Ping, _: &mut ChildContext<'_, Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

struct Crash;
impl Message for Crash {
    type Result = ();
}
impl Handles<Crash> for Probe {
    fn handle(&mut self, _: Crash, _: &mut ChildContext<'_, Self>) {
        panic!("injected");
    }
}

struct RawPing;
impl ActixMessage for RawPing {
    type Result = u64;
}
struct RawProbe(u64);
impl Actor for RawProbe {
    type Context = Context<Self>;
}
impl Handler<RawPing> for RawProbe {
    type Result = u64;
    fn handle(&mut self, _: RawPing, _: &mut Context<Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn supervision(c: &mut Criterion) {
    let system = actix::System::new();
    let config = SupervisorConfig {
        strategy: Strategy::OneForOne,
        // Measure the restart itself: no backoff, no escalation.
        intensity: RestartIntensity {
            max_restarts: u32::MAX,
            within: Duration::from_secs(1),
        },
        backoff: Backoff {
            min: Duration::ZERO,
            max: Duration::ZERO,
            jitter: 0.0,
            reset_after: Duration::from_secs(1),
        },
        ..SupervisorConfig::default()
    };
    let (root, probe, raw) = system.block_on(async {
        let (root, _) = SupervisorRef::start_root("bench", config, EventBus::new(16), None);
        let probe = root.start_child(ChildSpec::new("probe", || Probe(0)));
        probe.ask(Ping, Duration::from_secs(1)).await.unwrap();
        (root, probe, RawProbe(0).start())
    });

    let mut group = c.benchmark_group("supervision");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("restart_panic_to_answering", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let _ = probe.tell(Crash);
                    probe.ask(Ping, Duration::from_secs(1)).await.unwrap();
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.bench_function("ask_round_trip/watchkeeper", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    probe.ask(Ping, Duration::from_secs(1)).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("ask_round_trip/actix_send", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    raw.send(RawPing).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("ask_round_trip/actix_send_with_timeout", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    raw.send(RawPing)
                        .timeout(Duration::from_secs(1))
                        .await
                        .unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    drop(root);
}

criterion_group!(benches, supervision);
criterion_main!(benches);
