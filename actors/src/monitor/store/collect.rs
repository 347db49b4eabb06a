//! [`MonitorStore::collect`]: moving what every recording thread wrote since the last tick into a
//! new interval of the window, and into the totals.
//!
//! Per thread and kind: the counts are compared with the last reading, and a thread whose counts
//! have not moved since a reading that followed their last change is skipped. Otherwise the ring
//! of recent samples and the overflow the owner copied full rings into are emptied, and, once the
//! thread's cells are dense, their bytes (and the 8-byte cells on resident pages, once one was
//! written) are read beside the last reading of them (packed, [`CellCounts`]). Each collection
//! that finds a thread between two samples reads every dense cell that may hold samples one last
//! time and gives them back (`KindCells::stop_dense`, `KindCells::give_back`): its next samples go
//! to the ring again. Found halfway through one, the thread keeps its cells, and the reading is
//! kept for the next collection's difference.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{bucket_of, Interval, IntervalKind, KindSnapshot, MonitorStore, Reading};
use crate::monitor::cell_counts::{self, merge_indices, CellCounts, Cursor, Merging, Writer};
use crate::monitor::kind_cells::{KindCells, StopDense};
use crate::monitor::recorder::{Recorders, MAX_KINDS};

impl MonitorStore {
    /// Moves every sample recorded since the last collection into a new interval.
    pub fn collect(&self) {
        let now = Instant::now();
        let recorders = &self.recorder.recorders;
        let layout = &recorders.layout;
        let counters = self.series().counters.len();
        // Only the kinds registered so far can have cells.
        let registered = self.kind_names().len().min(MAX_KINDS);
        let mut st = self.lock();
        let duration = st
            .last_collect
            .map_or(Duration::ZERO, |t| now.duration_since(t));
        st.last_collect = Some(now);
        let mut interval = Interval {
            duration,
            kinds: Vec::new(),
            counters: Vec::new(),
        };
        // The tick of an idle monitor: a look at each thread's counts, nothing allocated.
        if recorders.with_slots(|slots| nothing_new(&st, slots, registered, counters)) {
            keep_interval(&mut st, interval, false);
            return;
        }
        let slots = recorders.snapshot_slots();
        let mut kinds: Vec<IntervalKind> = vec![IntervalKind::default(); registered];
        // Each kind's samples, packed like a reading (one entry a cell, in cell order): each
        // thread's, taken out of its ring and overflow or read in its dense cells, are merged in
        // as they come (into `spare`, which then takes the place of the list), so the lists stay
        // at one entry a cell, however many threads recorded in it.
        let mut merged: Vec<Vec<u8>> = vec![Vec::new(); registered];
        let mut spare = Vec::new();
        // Each kind's samples taken out of rings and overflows, a cell index each, until
        // `KEPT_BEFORE_MERGING` are merged into the kind's list.
        let mut kept: Vec<Vec<u32>> = vec![Vec::new(); registered];
        // Each dense thread's new reading is written here, then copied to where it is kept.
        let mut scratch = Vec::new();
        st.counter_totals.resize(counters, 0);
        for c in 0..counters {
            let total = Recorders::counter_total(&slots, c);
            let delta = total.wrapping_sub(st.counter_totals[c]);
            st.counter_totals[c] = total;
            if delta > 0 {
                interval.counters.resize(counters, 0);
                interval.counters[c] = delta;
            }
        }
        for slot in slots {
            let pos = match st.snapshots.iter().position(|(s, _)| Arc::ptr_eq(s, &slot)) {
                Some(p) => p,
                None => {
                    st.snapshots.push((slot.clone(), Vec::new()));
                    st.snapshots.len() - 1
                }
            };
            for (k, ((out, merged), kept)) in
                kinds.iter_mut().zip(&mut merged).zip(&mut kept).enumerate()
            {
                let Some(cells) = slot.kinds[k].get() else {
                    continue;
                };
                let snaps = &mut st.snapshots[pos].1;
                if snaps.len() <= k {
                    snaps.resize_with(k + 1, || None);
                }
                let snap = snaps[k].get_or_insert_with(KindSnapshot::default);
                let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                // A record raises its flag, then bumps the count (released), then the rest; an
                // error bumps its own count. Once one reading has followed the last change, an
                // idle thread's cells are not read again (18,432 histogram cells each at the
                // default bounds) until it records.
                let (count, errors) = (cells.count.load(Ordering::Acquire), load(&cells.errors));
                let unchanged = count == snap.count && errors == snap.errors;
                if unchanged && snap.settled {
                    continue;
                }
                // A sample whose count is in but whose cell (or ring entry) may not be yet (its
                // flag still raised) is read by the next collection, whatever the counts.
                snap.settled = unchanged && !cells.mid_sample();
                let (sum, clamped) = (load(&cells.sum), load(&cells.clamped));
                out.count += count.wrapping_sub(snap.count);
                out.sum = out.sum.wrapping_add(sum.wrapping_sub(snap.sum));
                out.errors += errors.wrapping_sub(snap.errors);
                let clamped_delta = clamped.wrapping_sub(snap.clamped);
                (snap.count, snap.sum, snap.errors, snap.clamped) = (count, sum, errors, clamped);
                // The samples the thread kept since the last reading, by cell: each counted once.
                if kept.capacity() == 0 {
                    // Room at once for the most it holds: grown step by step, it would leave the
                    // steps behind as holes in the heap.
                    kept.reserve(KEPT_BEFORE_MERGING + KindCells::MOST_KEPT);
                }
                cells.take_kept(kept);
                if kept.len() >= KEPT_BEFORE_MERGING {
                    merge_indices(kept, merged, &mut spare);
                }
                let max = load(&cells.max);
                let totals = st.totals_mut(k);
                totals.clamped += clamped_delta;
                totals.max = totals.max.max(max);
                if !cells.dense.load(Ordering::Acquire) {
                    // No sample in the cells yet: none of their pages is read (or resident).
                    continue;
                }
                // A thread's own cells are taken back at every collection that finds its owner
                // between samples: held still while they are read for the last time, then given
                // back, so they hold one interval's samples at most. The owner's next samples go
                // to the ring, and past it to fresh cells.
                let mut mid_sample = false;
                let giving_back = match (!slot.shared).then(|| cells.stop_dense()) {
                    Some(StopDense::Stopped(held)) => Some(held),
                    Some(StopDense::MidSample) => {
                        mid_sample = true;
                        None
                    }
                    Some(StopDense::Unsupported) | None => None,
                };
                let snap = st.snapshots[pos].1[k].as_mut().expect("made above");
                snap.settled &= !mid_sample;
                // One pass over the cells on resident pages beside the (sorted) non-zero cells of
                // the last reading. A page not resident was never written or was swapped out; a
                // cell the last reading saw non-zero there is read where it is (swapping it in).
                let last = std::mem::take(&mut snap.reading);
                let hist = &cells.hist;
                let last_bytes = match &last {
                    Reading::Heap(counts) => counts.as_bytes(),
                    // SAFETY: kept there while the cells were dense and the overflow empty
                    // (`KindCells::keep_reading`); they stayed dense until this collection (else
                    // it would have been dropped with them), so their owner has not spilled into
                    // the tail, nor can it now: the cells are still dense, or `stop_dense` just
                    // cleared that under the overflow's lock, held (`giving_back`) until they
                    // are given back. The collector writes the tail only below, once this borrow
                    // has ended.
                    Reading::Tail(len) => unsafe { hist.tail_bytes(*len) },
                };
                let mut before = Cursor::new(last_bytes);
                let mut now = Writer::reusing(std::mem::take(&mut scratch));
                let mut changes = Merging::new(merged, std::mem::take(&mut spare));
                // A cell read now beside what the last reading saw in it.
                let exact = giving_back.is_some();
                let mut read = |i: usize, c: u64, was: u64, now: &mut Writer| {
                    // Read while its owner may count (not held still to be given back), a count
                    // can be short of the last reading while a cell's byte carries into it
                    // (`KindCells::dense_count`): the last one stands.
                    debug_assert!(!exact || c >= was, "cell {i} read {c} after {was}");
                    let c = c.max(was);
                    if c != was {
                        changes.push(i as u32, c.wrapping_sub(was));
                    }
                    if c != 0 {
                        now.push(i as u32, c);
                    }
                };
                let mut visit = |run: std::ops::Range<usize>| {
                    while let Some((j, was)) = before.take_below(run.start as u32) {
                        read(j as usize, cells.dense_count(j as usize), was, &mut now);
                    }
                    cells.for_each_dense(run, |i, c| {
                        let was = before.take_at(i as u32).unwrap_or(0);
                        read(i, c, was, &mut now);
                    });
                };
                if giving_back.is_some() {
                    // Every cell that may hold samples, resident or not: a page swapped out since
                    // the last reading may hold some, which giving the pages back would lose.
                    cells.all_runs(&mut visit);
                } else {
                    cells.dense_runs(&mut visit);
                }
                for (j, was) in before.rest() {
                    read(j as usize, cells.dense_count(j as usize), was, &mut now);
                }
                if let Some(held) = giving_back {
                    // Every cell is read: the next reading starts from none (`snap.reading`,
                    // taken above).
                    cells.give_back(held);
                } else if cells.keep_reading(now.bytes()) {
                    snap.reading = Reading::Tail(now.bytes().len());
                } else {
                    snap.reading = Reading::Heap(CellCounts::from_bytes(now.bytes()));
                }
                scratch = now.into_buffer();
                let fresh = changes.finish();
                spare = std::mem::replace(merged, fresh);
            }
        }
        let scale = u64::from(recorders.sample_every.load(Ordering::Relaxed).max(1));
        let mut any = false;
        for (k, ((kind, mut buckets), mut kept)) in
            kinds.iter_mut().zip(merged).zip(kept).enumerate()
        {
            merge_indices(&mut kept, &mut buckets, &mut spare);
            if !buckets.is_empty() {
                if st.export.len() <= k {
                    st.export.resize_with(k + 1, Vec::new);
                }
                let export = &mut st.export[k];
                export.resize(self.recorder.buckets.len() + 1, 0);
                for (i, n) in cell_counts::iter(&buckets) {
                    let seconds = layout.value(i as usize) as f64 * 1e-9;
                    export[bucket_of(&self.recorder.buckets, seconds)] += n * scale;
                }
            }
            kind.buckets = CellCounts::from_bytes(&buckets);
            // A reading can see a record's count before its sum: the sum's part then comes in a
            // later interval on its own, and must still reach the totals.
            if kind.count == 0 && kind.errors == 0 && kind.sum == 0 {
                continue;
            }
            let totals = st.totals_mut(k);
            totals.count += kind.count;
            totals.sum = totals.sum.wrapping_add(kind.sum);
            totals.errors += kind.errors;
            any |= kind.count > 0 || kind.errors > 0;
        }
        interval.kinds = kinds
            .into_iter()
            .enumerate()
            .filter(|(_, kind)| {
                kind.count > 0 || kind.errors > 0 || kind.sum > 0 || !kind.buckets.is_empty()
            })
            .map(|(k, kind)| (k as u8, kind))
            .collect();
        any |= !interval.counters.is_empty();
        if any {
            st.last_sample_at = Some(Utc::now());
        }
        keep_interval(&mut st, interval, any);
    }
}

/// Cell indices of samples taken out of rings and overflows that a collection holds, for each
/// kind, before it merges them into the kind's list (each merge rewrites the list): 32 KiB.
const KEPT_BEFORE_MERGING: usize = 8 * 1024;

/// Adds `interval` to the window (unless it spans no time and holds nothing: a second collection
/// in the same instant), dropping the oldest past the window's length.
fn keep_interval(st: &mut super::MonitorState, interval: Interval, any: bool) {
    if !interval.duration.is_zero() || any {
        st.window.push_back(interval);
    }
    while st.window.len() > st.window_len {
        st.window.pop_front();
    }
}

/// Whether a collection now would find nothing new: no counter moved, and every thread's counts
/// of every kind are those of a reading that followed their last change (see `KindSnapshot`).
fn nothing_new(
    st: &super::MonitorState,
    slots: &[Arc<crate::monitor::recorder::Slot>],
    registered: usize,
    counters: usize,
) -> bool {
    let counters_still = st.counter_totals.len() == counters
        && (0..counters).all(|c| Recorders::counter_total(slots, c) == st.counter_totals[c]);
    counters_still
        && slots.iter().all(|slot| {
            let snaps = st
                .snapshots
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, slot))
                .map(|(_, snaps)| snaps);
            (0..registered).all(|k| {
                let Some(cells) = slot.kinds[k].get() else {
                    return true;
                };
                let Some(Some(snap)) = snaps.and_then(|snaps| snaps.get(k)) else {
                    return false;
                };
                snap.settled
                    && cells.count.load(Ordering::Relaxed) == snap.count
                    && cells.errors.load(Ordering::Relaxed) == snap.errors
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::recorder::Slot;
    use crate::monitor::{MonitoringConfig, OpKind};

    /// The slot this thread recorded the query kind into.
    fn own_slot(store: &MonitorStore) -> Arc<Slot> {
        store
            .recorder
            .recorders
            .snapshot_slots()
            .into_iter()
            .find(|s| s.kinds[0].get().is_some())
            .expect("this thread's slot")
    }

    /// A store whose window keeps every collection as an interval, its layout, and a count of
    /// zero for each cell, to count the samples expected in them.
    fn windowed_store() -> (Arc<MonitorStore>, crate::monitor::Layout, Vec<u64>) {
        let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
        store.set_window(usize::MAX);
        let layout = store.recorder.recorders.layout.clone();
        let expected = vec![0u64; layout.len()];
        (store, layout, expected)
    }

    /// Records `values` from this thread, each counted in `expected` by its cell.
    fn record_counted(
        store: &MonitorStore,
        values: impl IntoIterator<Item = u64>,
        expected: &mut [u64],
    ) {
        let layout = &store.recorder.recorders.layout;
        for v in values {
            expected[layout.index(v)] += 1;
            store
                .recorder()
                .record(OpKind::QUERY, Duration::from_nanos(v));
        }
    }

    /// The query kind's samples per cell over every interval of the window.
    fn window_cells(store: &MonitorStore) -> Vec<u64> {
        let mut seen = vec![0u64; store.recorder.recorders.layout.len()];
        for interval in &store.lock().window {
            for (i, n) in interval.kind(usize::from(OpKind::QUERY.0)).buckets.iter() {
                seen[i as usize] += n;
            }
        }
        seen
    }

    /// Asserts the window holds `total` samples, `expected` of them in each cell.
    fn assert_window_cells(store: &MonitorStore, expected: &[u64], total: u64) {
        let seen = window_cells(store);
        assert_eq!(seen.iter().sum::<u64>(), total);
        for (i, (seen, expected)) in seen.iter().zip(expected).enumerate() {
            assert_eq!(seen, expected, "cell {i}");
        }
    }

    #[test]
    fn every_cell_of_the_window_matches_what_was_recorded_while_collections_ran_alongside() {
        // Every collection below is an interval of the window; keep them all.
        let (store, layout, mut expected) = windowed_store();
        // Each thread's values: some cells far apart (gaps past one byte), some hit hundreds of
        // times (counts past one byte), and a dense run of neighbours.
        let values = |t: u64| {
            (0..60_000u64).map(move |i| match i % 3 {
                0 => 1_000 + (i * 7_919 + t) % 50_000_000,
                1 => 250_000 + (i % 40) * 1_000,
                _ => 2_000_000 + (i * 13 + t) % 3_000_000,
            })
        };
        for t in 0..3 {
            for v in values(t) {
                expected[layout.index(v)] += 1;
            }
        }
        // In ten rounds, each a tenth of every thread's values with collections running alongside,
        // so each reading after the first differs from one that saw cells non-zero. A round's
        // threads end before the next round's begin, which take their cells over.
        for round in 0..10u64 {
            std::thread::scope(|scope| {
                let writers: Vec<_> = (0..3)
                    .map(|t| {
                        let recorder = store.recorder();
                        scope.spawn(move || {
                            for v in values(t).skip(round as usize * 6_000).take(6_000) {
                                recorder.record(OpKind::QUERY, Duration::from_nanos(v));
                            }
                        })
                    })
                    .collect();
                while !writers.iter().all(|w| w.is_finished()) {
                    store.collect();
                }
            });
            store.collect();
        }
        store.collect();
        assert_window_cells(&store, &expected, 180_000);
    }

    #[test]
    fn a_thread_collected_before_its_ring_fills_writes_no_cell_and_every_sample_counts() {
        let (store, _, mut expected) = windowed_store();
        // Twenty collections of 100 samples each: 2,000 values through a ring of 128, which
        // never fills.
        for round in 0..20u64 {
            let values = (round * 100..(round + 1) * 100).map(|i| 200_000 + i * 9_973 % 19_800_000);
            record_counted(&store, values, &mut expected);
            store.collect();
        }
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        assert!(!cells.dense.load(Ordering::Relaxed));
        if cfg!(target_os = "linux") {
            assert_eq!(resident_cells(cells), 0, "no page of cells was written");
        }
        assert_eq!(window_cells(&store), expected);
        assert_eq!(store.stats().total_queries, 2_000);
        // One collection late, more samples than the ring and its overflow hold: all of them are
        // counted in the cells.
        record_counted(
            &store,
            (0..5_000u64).map(|i| 200_000 + i * 6_151 % 19_800_000),
            &mut expected,
        );
        assert!(cells.dense.load(Ordering::Relaxed));
        store.collect();
        assert_eq!(window_cells(&store), expected);
    }

    /// Bytes of the layout's cells: the 8-byte ones on resident pages (all of them where
    /// residency cannot be asked), and the bytes of dense cells.
    fn resident_cells(cells: &KindCells) -> usize {
        let mut resident = cells.span_bytes();
        cells.hist.resident_runs(|_, run| resident += 8 * run.len());
        resident
    }

    #[test]
    fn dense_cells_are_given_back_at_each_collection_and_every_sample_still_counts() {
        let (store, layout, mut expected) = windowed_store();
        let values = |n: u64, from: u64| (from..from + n).map(|i| 200_000 + i * 6_151 % 19_800_000);
        let gives_back = crate::monitor::cells::fence_every_thread();
        // Past the ring and its overflow: dense.
        record_counted(&store, values(5_000, 0), &mut expected);
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        assert!(cells.dense.load(Ordering::Relaxed));
        let resident = resident_cells(cells);
        assert!(resident > 0);
        let dense_bytes = store.footprint().recorder_bytes;
        // The collection reads them and takes them back.
        store.collect();
        assert_eq!(window_cells(&store), expected);
        if gives_back {
            assert!(!cells.dense.load(Ordering::Relaxed), "cells given back");
            assert_eq!(resident_cells(cells), 0);
            // The footprint counts the pages in memory: the cells' are gone.
            let given_back = dense_bytes - store.footprint().recorder_bytes;
            assert!(given_back >= resident, "{dense_bytes}: {given_back} fewer");
        }
        // The thread goes on: dense again, then a few samples into the ring after the give-back.
        record_counted(&store, values(5_000, 5_000), &mut expected);
        assert!(cells.dense.load(Ordering::Relaxed));
        store.collect();
        record_counted(&store, values(100, 10_000), &mut expected);
        store.collect();
        if gives_back {
            assert!(!cells.dense.load(Ordering::Relaxed));
            assert_eq!(resident_cells(cells), 0, "the ring took the last samples");
        }
        assert_eq!(window_cells(&store), expected);
        assert_eq!(store.stats().total_queries, 10_100);
        // Two more threads dense in the same collection, their cells overlapping: merged.
        let (a, b): (Vec<u64>, Vec<u64>) = (
            (0..5_000u64)
                .map(|i| 300_000 + i * 3_001 % 9_000_000)
                .collect(),
            (0..6_000u64)
                .map(|i| 200_000 + i * 4_999 % 12_000_000)
                .collect(),
        );
        for v in a.iter().chain(&b) {
            expected[layout.index(*v)] += 1;
        }
        std::thread::scope(|scope| {
            for values in [&a, &b] {
                let recorder = store.recorder();
                scope.spawn(move || {
                    for &v in values {
                        recorder.record(OpKind::QUERY, Duration::from_nanos(v));
                    }
                });
            }
        });
        store.collect();
        assert_eq!(window_cells(&store), expected);
        assert_eq!(store.stats().total_queries, 21_100);
    }

    /// The owner stalls within a sample of `cell`: its flag raised, then its count in, the sample
    /// not yet in its ring or cells (the order the owner writes them in); counted in `expected`.
    fn stall_within_a_sample(cells: &KindCells, cell: usize, expected: &mut [u64]) {
        expected[cell] += 1;
        cells.writing.store(true, Ordering::Relaxed);
        cells.count.fetch_add(1, Ordering::Release);
    }

    /// Asserts that the cells stayed with their owner, halfway through a sample of `cell`, and
    /// that the window holds every sample but that one.
    fn assert_all_read_but_the_sample_on_its_way(
        store: &MonitorStore,
        cells: &KindCells,
        expected: &[u64],
        cell: usize,
    ) {
        assert!(
            cells.dense.load(Ordering::Relaxed),
            "not taken back mid-sample"
        );
        let mut without = expected.to_vec();
        without[cell] -= 1;
        assert_window_cells(store, &without, without.iter().sum());
    }

    #[test]
    fn a_sample_halfway_through_when_its_thread_looks_idle_is_read_when_it_lands() {
        let (store, layout, mut expected) = windowed_store();
        record_counted(
            &store,
            // The first sample at 19.9 ms: the dense cells hold bytes up to there.
            std::iter::once(19_900_000).chain((0..5_000u64).map(|i| 300_000 + i * 1_000)),
            &mut expected,
        );
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        assert!(cells.dense.load(Ordering::Relaxed));
        let cell = layout.index(5_000_000);
        stall_within_a_sample(cells, cell, &mut expected);
        store.collect();
        // The counts stay as they are; the thread looks idle, but is not settled.
        store.collect();
        store.collect();
        assert_all_read_but_the_sample_on_its_way(&store, cells, &expected, cell);
        // The sample lands, and the next collection reads it (and gives the cells back).
        cells
            .byte_of(cell)
            .expect("a byte")
            .fetch_add(1, Ordering::Relaxed);
        cells.writing.store(false, Ordering::Release);
        store.collect();
        assert_eq!(window_cells(&store), expected);
        if crate::monitor::cells::fence_every_thread() {
            assert!(!cells.dense.load(Ordering::Relaxed));
        }
    }

    #[test]
    fn a_reading_halfway_through_a_carry_keeps_the_last_count_and_then_reads_exactly() {
        let (store, layout, mut expected) = windowed_store();
        // Dense, and one cell a sample short of carrying.
        let cell = layout.index(15_000_000);
        record_counted(
            &store,
            // The first sample at 19.9 ms: the dense cells hold bytes up to there.
            std::iter::once(19_900_000)
                .chain((0..5_000u64).map(|i| 300_000 + i * 1_000))
                .chain((0..255).map(|_| 15_000_000)),
            &mut expected,
        );
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        assert!(cells.dense.load(Ordering::Relaxed));
        assert_eq!(
            cells.byte_of(cell).expect("a byte").load(Ordering::Relaxed),
            255
        );
        // A collection finds the owner halfway through a sample of another cell: it reads the
        // cells where they stay, and keeps its reading.
        let other = layout.index(19_000_000);
        stall_within_a_sample(cells, other, &mut expected);
        store.collect();
        cells
            .byte_of(other)
            .expect("a byte")
            .fetch_add(1, Ordering::Relaxed);
        cells.writing.store(false, Ordering::Release);
        // The owner stalls within the 256th sample, halfway through its carry: the byte
        // zeroed and nothing carried yet. The cell reads 256 short of the true count and 255
        // short of the kept reading, which stands.
        stall_within_a_sample(cells, cell, &mut expected);
        cells.start_carry(cells.byte_of(cell).expect("a byte"));
        store.collect();
        assert_all_read_but_the_sample_on_its_way(&store, cells, &expected, cell);
        // The carry lands: the next collection reads the sample, and no count twice.
        cells.finish_carry(cell);
        assert_eq!(cells.hist[cell].load(Ordering::Relaxed), 256);
        cells.writing.store(false, Ordering::Release);
        store.collect();
        assert_window_cells(&store, &expected, 1 + 5_000 + 255 + 2);
    }

    #[test]
    fn a_sample_halfway_into_the_ring_when_its_thread_looks_idle_is_read_when_it_lands() {
        let (store, layout, mut expected) = windowed_store();
        record_counted(
            &store,
            (0..10u64).map(|i| 300_000 + i * 1_000),
            &mut expected,
        );
        store.collect();
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        assert!(!cells.dense.load(Ordering::Relaxed));
        // The owner stalls between its count and its ring entry, over two collections that
        // see the same counts.
        let cell = layout.index(5_000_000);
        stall_within_a_sample(cells, cell, &mut expected);
        store.collect();
        store.collect();
        assert!(cells.keep(cell as u32));
        cells.writing.store(false, Ordering::Release);
        // Nothing moved since, but the sample is read.
        store.collect();
        assert_eq!(window_cells(&store), expected);
    }

    #[test]
    fn a_cell_past_what_its_byte_holds_goes_on_counting_exactly_while_collections_run() {
        let (store, layout, mut expected) = windowed_store();
        // Most samples in two cells, far past what a byte holds (255), the rest spread;
        // collections run alongside, so readings see the bytes carrying.
        let values = |i: u64| match i % 8 {
            0..=3 => 1_500_000,
            4..=6 => 7_250_000,
            _ => 200_000 + i * 6_151 % 19_800_000,
        };
        for v in (0..400_000).map(values) {
            expected[layout.index(v)] += 1;
        }
        let full = layout.index(1_500_000);
        // The first 300,000 before any collection: dense, every one of them in the cells (those
        // kept aside before they became dense too), the busiest cell's mostly carried.
        for v in (0..300_000).map(values) {
            store
                .recorder()
                .record(OpKind::QUERY, Duration::from_nanos(v));
        }
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        assert!(cells.dense.load(Ordering::Relaxed));
        let mut so_far = vec![0u64; layout.len()];
        for v in (0..300_000).map(values) {
            so_far[layout.index(v)] += 1;
        }
        assert_eq!(
            cells.hist[full].load(Ordering::Relaxed),
            so_far[full] / 256 * 256
        );
        // The cells, and the samples outside their bytes in the ring.
        let mut in_cells: Vec<u64> = (0..layout.len()).map(|i| cells.dense_count(i)).collect();
        for i in cells.in_ring() {
            in_cells[i as usize] += 1;
        }
        assert!(
            in_cells == so_far,
            "the cells and the ring hold every sample"
        );
        // A collection that finds the owner halfway through a sample reads the cells where they
        // stay, bytes and 8-byte cells together, and keeps its reading.
        cells.writing.store(true, Ordering::Relaxed);
        store.collect();
        assert!(cells.dense.load(Ordering::Relaxed));
        assert_eq!(window_cells(&store), so_far);
        cells.writing.store(false, Ordering::Release);
        // The rest from another thread, with a slot of its own, while collections run.
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let done = &done;
            scope.spawn(|| {
                let recorder = store.recorder();
                for v in (300_000..400_000).map(values) {
                    recorder.record(OpKind::QUERY, Duration::from_nanos(v));
                }
                done.store(true, Ordering::Release);
            });
            while !done.load(Ordering::Acquire) {
                store.collect();
            }
        });
        store.collect();
        assert_window_cells(&store, &expected, 400_000);
        assert!(expected[full] > 500 * 256);
    }

    #[test]
    fn cells_given_back_while_their_thread_records_again_lose_no_sample() {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        let (store, layout, mut expected) = windowed_store();
        let bursts = 100u64;
        let values = |burst: u64| {
            (0..5_000u64).map(move |i| 200_000 + (burst * 31 + i * 6_151) % 19_800_000)
        };
        for v in (0..bursts).flat_map(values) {
            expected[layout.index(v)] += 1;
        }
        // Collections skip while the writer is in a burst it wants whole (5,000 samples between
        // two collections make the cells dense): the writer raises `bursting`, then waits for any
        // collection under way; a collection counts itself started, then looks at `bursting`.
        let bursting = AtomicBool::new(false);
        let (started, finished) = (AtomicU64::new(0), AtomicU64::new(0));
        let (dense, given_back) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let recorder = store.recorder();
                let (mut dense, mut given_back) = (0u64, 0u64);
                for burst in 0..bursts {
                    let racing = burst % 2 == 1;
                    bursting.store(!racing, Ordering::SeqCst);
                    while !racing
                        && started.load(Ordering::SeqCst) != finished.load(Ordering::SeqCst)
                    {
                        std::thread::yield_now();
                    }
                    for v in values(burst) {
                        recorder.record(OpKind::QUERY, Duration::from_nanos(v));
                    }
                    let slot = own_slot(&store);
                    let cells = slot.kinds[0].get().expect("the writer's cells");
                    dense += u64::from(!racing && cells.dense.load(Ordering::Relaxed));
                    bursting.store(false, Ordering::SeqCst);
                    let seen = finished.load(Ordering::SeqCst);
                    if racing {
                        // Idle until a collection that may give the cells back has started, then
                        // on at once, while it may be taking them.
                        while started.load(Ordering::SeqCst) < seen + 3 {
                            std::hint::spin_loop();
                        }
                    } else {
                        // Idle over whole collections: the first gives the cells back (taking
                        // them back needs no idle collection, but a racing writer may be found
                        // halfway through a sample and keep them).
                        while finished.load(Ordering::SeqCst) < seen + 3 {
                            std::thread::yield_now();
                        }
                        given_back += u64::from(!cells.dense.load(Ordering::Relaxed));
                    }
                }
                (dense, given_back)
            });
            while !writer.is_finished() {
                started.fetch_add(1, Ordering::SeqCst);
                if !bursting.load(Ordering::SeqCst) {
                    store.collect();
                }
                finished.fetch_add(1, Ordering::SeqCst);
            }
            writer.join().expect("writer")
        });
        store.collect();
        assert_eq!(dense, bursts / 2, "each whole burst made the cells dense");
        if crate::monitor::cells::fence_every_thread() {
            assert_eq!(
                given_back,
                bursts / 2,
                "each idle spell found the cells given back"
            );
        }
        assert_window_cells(&store, &expected, bursts * 5_000);
    }

    #[test]
    fn threads_whose_rings_fill_between_collections_spill_exactly_and_write_no_cell() {
        let (store, layout, mut expected) = windowed_store();
        // Each thread's 2,100 samples a round over 500 cells of 0.2-20 ms: more than 16 rings'
        // worth, which the ring and its overflow hold (2,176), with collections running alongside
        // or not.
        let values = |t: u64, round: u64| {
            (0..2_100u64).map(move |i| 200_000 + ((i * 7 + t + round) % 500) * 39_000)
        };
        for round in 0..6 {
            for t in 0..3 {
                for v in values(t, round) {
                    expected[layout.index(v)] += 1;
                }
            }
            // Each thread takes a slot of its own (its first sample) before any ends and frees one.
            let started = std::sync::Barrier::new(3);
            std::thread::scope(|scope| {
                let writers: Vec<_> = (0..3)
                    .map(|t| {
                        let (recorder, started) = (store.recorder(), &started);
                        scope.spawn(move || {
                            for (i, v) in values(t, round).enumerate() {
                                recorder.record(OpKind::QUERY, Duration::from_nanos(v));
                                if i == 0 {
                                    started.wait();
                                }
                            }
                        })
                    })
                    .collect();
                while round % 2 == 0 && !writers.iter().all(|w| w.is_finished()) {
                    store.collect();
                }
            });
            store.collect();
        }
        assert_window_cells(&store, &expected, 6 * 3 * 2_100);
        for slot in store.recorder.recorders.snapshot_slots() {
            let Some(cells) = slot.kinds[0].get() else {
                continue;
            };
            assert!(!cells.dense.load(Ordering::Relaxed));
            assert_eq!(
                cells.spilled(),
                0,
                "the collector took every spilled sample"
            );
            if cfg!(target_os = "linux") {
                assert_eq!(resident_cells(cells), 0, "no page of cells was written");
            }
        }
    }

    #[test]
    fn a_sum_read_after_its_count_still_reaches_the_totals() {
        let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
        store
            .recorder()
            .record(OpKind::QUERY, Duration::from_micros(10));
        store.collect();
        // A collection that falls between a record's count and its sum: the count is seen at one
        // collection, the sum only at the next.
        let slot = own_slot(&store);
        let cells = slot.kinds[0].get().expect("this thread's cells");
        cells.count.fetch_add(1, Ordering::Relaxed);
        store.collect();
        cells.sum.fetch_add(30_000, Ordering::Relaxed);
        store.collect();
        let query = &store.exposition().kinds[0];
        assert_eq!(query.count, 2);
        assert!(
            (query.sum_seconds - 40e-6).abs() < 1e-12,
            "{}",
            query.sum_seconds
        );
    }
}
