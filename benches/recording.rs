//! Recording one latency sample: `MonitorHandle::record_query` beside its peers, 1 and 2 threads, in
//! the same run; and a counter increment and a gauge set beside theirs (`count/*`, `count_by/*`,
//! `level/*`).
//! Run: `cargo bench --bench recording`.
//!
//! Peers: a thread-owned `hdrhistogram::Histogram` (the limit), one set of atomic cells shared by
//! every thread (a locked add per sample), `Arc<Mutex<Histogram>>` (the design this replaces),
//! hdrhistogram's sync recorder, `prometheus::Histogram::observe`, the `metrics` crate with the
//! Prometheus exporter's recorder, and one actix message per sample.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler, Message};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;

const LOW: u64 = 1_000;
const HIGH: u64 = 60_000_000_000;

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(LOW, HIGH, 3).unwrap()
}

/// Adds `n` to a cell only the calling thread writes: a relaxed load and store, no locked
/// instruction (what a counter another thread may read must do at the least).
#[inline(always)]
fn owner_add(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// A latency that varies like a real one and that the compiler cannot predict.
#[inline(always)]
fn latency(i: u64) -> u64 {
    20_000 + (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44)
}

/// Runs `per_thread(samples)` on `threads` threads at once; returns the wall time.
fn parallel(threads: usize, samples: u64, per_thread: Arc<dyn Fn(u64) + Send + Sync>) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (barrier, f) = (barrier.clone(), per_thread.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(samples);
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    barrier.wait();
    let elapsed = start.elapsed();
    for h in handles {
        h.join().unwrap();
    }
    elapsed
}

struct Sample(u64);
impl Message for Sample {
    type Result = ();
}
struct HistActor(Histogram<u64>);
impl Actor for HistActor {
    type Context = Context<Self>;
}
impl Handler<Sample> for HistActor {
    type Result = ();
    fn handle(&mut self, s: Sample, _: &mut Context<Self>) {
        let _ = self.0.record(s.0);
    }
}

fn recording(c: &mut Criterion) {
    let mut config = watchkeeper::Config::default();
    config.deployment.admin_enabled = false;
    let rt = watchkeeper::Runtime::start(config).unwrap();
    let handle = rt.monitor("bench").unwrap();
    let sampled = rt.monitor("bench-sampled").unwrap();
    sampled.set_sampling_blocking(0.1).unwrap();

    let locked = Arc::new(Mutex::new(hist()));
    let prom =
        prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("bench_seconds", "bench"))
            .unwrap();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _ = metrics::set_global_recorder(recorder);
    let metrics_hist = metrics::histogram!("bench_seconds");

    // The actix peer runs its actor on a system thread of its own; samples are `do_send`s.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sys = actix::System::new();
        sys.block_on(async {
            addr_tx.send(HistActor(hist()).start()).unwrap();
        });
        sys.run().unwrap();
    });
    let addr = addr_rx.recv().unwrap();

    type Peer = (&'static str, Arc<dyn Fn(u64) + Send + Sync>);
    let peers: Vec<Peer> = vec![
        (
            "hdr_thread_owned",
            Arc::new(|n| {
                let mut h = hist();
                for i in 0..n {
                    let _ = h.record(black_box(latency(i)));
                }
                black_box(&h);
            }),
        ),
        ("watchkeeper_record_query", {
            let h = handle.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    h.record_query(Duration::from_nanos(black_box(latency(i))));
                }
            })
        }),
        ("watchkeeper_sampled_10pct", {
            let h = sampled.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    h.record_query(Duration::from_nanos(black_box(latency(i))));
                }
            })
        }),
        // One set of cells for every thread, each sample a locked add: the memory of a single
        // histogram however many threads record, at the price of a read-modify-write per sample.
        ("shared_atomic_cells", {
            let layout = watchkeeper::actors::monitor::Layout::new(LOW, HIGH, 3).unwrap();
            let cells: Arc<Vec<AtomicU64>> =
                Arc::new((0..layout.len()).map(|_| AtomicU64::new(0)).collect());
            Arc::new(move |n| {
                for i in 0..n {
                    let v = black_box(latency(i)).min(layout.high());
                    cells[layout.index(v)].fetch_add(1, Ordering::Relaxed);
                }
            })
        }),
        ("arc_mutex_hdr", {
            let l = locked.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    let _ = l.lock().unwrap().record(black_box(latency(i)));
                }
            })
        }),
        ("prometheus_observe", {
            let p = prom.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    p.observe(black_box(latency(i)) as f64 * 1e-9);
                }
            })
        }),
        ("metrics_prometheus_exporter", {
            let m = metrics_hist.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    m.record(black_box(latency(i)) as f64 * 1e-9);
                }
            })
        }),
        ("actix_do_send", {
            let a = addr.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    a.do_send(Sample(black_box(latency(i))));
                }
            })
        }),
    ];

    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!(
            "record/{threads}_thread{}",
            if threads > 1 { "s" } else { "" }
        ));
        group.throughput(Throughput::Elements(threads as u64));
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(500));
        for (name, f) in &peers {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| parallel(threads, iters, f.clone()))
            });
        }
        // hdrhistogram's sync recorder: each thread owns a `Recorder`; a collector refreshes after.
        group.bench_function(BenchmarkId::from_parameter("hdr_sync_recorder"), |b| {
            b.iter_custom(|iters| {
                let mut sync = hist().into_sync();
                let recorders: Vec<_> = (0..threads)
                    .map(|_| Mutex::new(Some(sync.recorder())))
                    .collect();
                let recorders = Arc::new(recorders);
                let next = Arc::new(AtomicUsize::new(0));
                let elapsed = parallel(
                    threads,
                    iters,
                    Arc::new(move |n| {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let mut r = recorders[i].lock().unwrap().take().unwrap();
                        for k in 0..n {
                            let _ = r.record(black_box(latency(k)));
                        }
                    }),
                );
                sync.refresh_timeout(Duration::from_millis(10));
                elapsed
            })
        });
        group.finish();
    }
    drop(rt);
}

/// A counter increment and a gauge set, 1 and 2 threads: watchkeeper's beside a thread-owned plain
/// integer or float (the limit), `prometheus::IntCounter` / `prometheus::Gauge`, and the `metrics`
/// crate's handles from the Prometheus exporter's recorder.
fn counting(c: &mut Criterion) {
    use metrics::Recorder as _;
    let mut config = watchkeeper::Config::default();
    config.deployment.admin_enabled = false;
    let rt = watchkeeper::Runtime::start(config).unwrap();
    let handle = rt.monitor("bench").unwrap();
    let counter = handle.counter("bench_events");
    let gauge = handle.gauge("bench_level");
    let prom_counter = prometheus::IntCounter::new("bench_events_total", "bench").unwrap();
    let prom_gauge = prometheus::Gauge::new("bench_level", "bench").unwrap();
    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let meta = metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
    let metrics_counter =
        exporter.register_counter(&metrics::Key::from_static_name("bench_events_total"), &meta);
    let metrics_gauge =
        exporter.register_gauge(&metrics::Key::from_static_name("bench_level"), &meta);

    type Peer = (&'static str, Arc<dyn Fn(u64) + Send + Sync>);
    // Counting by one, the common case. Each iteration passes the contender's handle (or cell)
    // through `black_box`, so no contender's cell address is hoisted out of the loop.
    let counters: Vec<Peer> = vec![
        (
            // An integer that never leaves a register: no other thread could read it.
            "plain_u64_thread_owned",
            Arc::new(|n| {
                let mut x = 0u64;
                for _ in 0..n {
                    x = x.wrapping_add(black_box(1));
                }
                black_box(x);
            }),
        ),
        (
            // The same, kept in memory (a counter a thread owns in a struct): each increment
            // loads and stores it, as every counter that outlives the loop must.
            "plain_u64_thread_owned_in_memory",
            Arc::new(|n| {
                let mut x = 0u64;
                for _ in 0..n {
                    let cell = black_box(&mut x);
                    *cell = cell.wrapping_add(1);
                }
                black_box(x);
            }),
        ),
        (
            // The same integer on the heap (a counter in a thread's boxed state).
            "plain_u64_thread_owned_on_heap",
            Arc::new(|n| {
                let mut x = Box::new(0u64);
                for _ in 0..n {
                    let cell = black_box(&mut *x);
                    *cell = cell.wrapping_add(1);
                }
                black_box(x);
            }),
        ),
        (
            // What a counter another thread may read must be at the least: an atomic cell only its
            // owner writes, loaded and stored (no locked instruction), on the heap.
            "atomic_u64_thread_owned_on_heap",
            Arc::new(|n| {
                let x = Box::new(AtomicU64::new(0));
                for _ in 0..n {
                    let cell = black_box(&*x);
                    owner_add(cell, 1);
                }
                black_box(x);
            }),
        ),
        (
            // The same cell among 64, reached as base plus index: the address is computed, not
            // loaded, and each increment then waits on the one before it on this CPU (likely the
            // loss of its fast forwarding of the last store to the next load).
            "atomic_u64_thread_owned_on_heap_at_an_index",
            Arc::new(|n| {
                let x: Box<[AtomicU64; 64]> = Box::new(std::array::from_fn(|_| AtomicU64::new(0)));
                let index = black_box(3usize) % 64;
                for _ in 0..n {
                    let cell = &black_box(&*x)[index];
                    owner_add(cell, 1);
                }
                black_box(x);
            }),
        ),
        ("watchkeeper_counter", {
            let c = counter.clone();
            Arc::new(move |n| {
                for _ in 0..n {
                    black_box(&c).increment(1);
                }
            })
        }),
        ("prometheus_int_counter", {
            let c = prom_counter.clone();
            Arc::new(move |n| {
                for _ in 0..n {
                    black_box(&c).inc();
                }
            })
        }),
        ("metrics_prometheus_exporter", {
            let c = metrics_counter.clone();
            Arc::new(move |n| {
                for _ in 0..n {
                    black_box(&c).increment(1);
                }
            })
        }),
    ];
    // Counting by an amount the compiler cannot predict, taken before the cell is read (as a
    // call's argument is) by every contender alike.
    let counters_by: Vec<Peer> = vec![
        (
            "atomic_u64_thread_owned_on_heap",
            Arc::new(|n| {
                let x = Box::new(AtomicU64::new(0));
                for i in 0..n {
                    let by = black_box(i & 1);
                    let cell = black_box(&*x);
                    owner_add(cell, by);
                }
                black_box(x);
            }),
        ),
        ("watchkeeper_counter", {
            let c = counter.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    let by = black_box(i & 1);
                    black_box(&c).increment(by);
                }
            })
        }),
        ("prometheus_int_counter", {
            let c = prom_counter.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    let by = black_box(i & 1);
                    black_box(&c).inc_by(by);
                }
            })
        }),
    ];
    let gauges: Vec<Peer> = vec![
        (
            "plain_f64_thread_owned",
            Arc::new(|n| {
                let mut x = 0f64;
                for i in 0..n {
                    x = black_box(i as f64);
                }
                black_box(x);
            }),
        ),
        ("watchkeeper_gauge", {
            let g = gauge.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    g.set(black_box(i as f64));
                }
            })
        }),
        ("prometheus_gauge", {
            let g = prom_gauge.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    g.set(black_box(i as f64));
                }
            })
        }),
        ("metrics_prometheus_exporter", {
            let g = metrics_gauge.clone();
            Arc::new(move |n| {
                for i in 0..n {
                    g.set(black_box(i as f64));
                }
            })
        }),
    ];
    for (what, peers) in [
        ("count", &counters),
        ("count_by", &counters_by),
        ("level", &gauges),
    ] {
        for threads in [1usize, 2] {
            let mut group = c.benchmark_group(format!(
                "{what}/{threads}_thread{}",
                if threads > 1 { "s" } else { "" }
            ));
            group.throughput(Throughput::Elements(threads as u64));
            group.measurement_time(Duration::from_secs(2));
            group.warm_up_time(Duration::from_millis(500));
            for (name, f) in peers {
                group.bench_function(BenchmarkId::from_parameter(name), |b| {
                    b.iter_custom(|iters| parallel(threads, iters, f.clone()))
                });
            }
            group.finish();
        }
    }
    drop(rt);
}

criterion_group!(benches, recording, counting);
criterion_main!(benches);
