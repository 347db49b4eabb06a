//! [`KindCells`]: one recording thread's cells for one operation kind of one monitor, and how
//! samples reach them.
//!
//! A kind's histogram cells are written only once a thread records many more samples between two
//! collections than a ring holds: until then each sample's cell index goes into a ring of
//! [`RECENT`], which the collector empties on its tick, and none of the cells' pages becomes
//! resident. A sample that finds the ring full copies the ring into an overflow of
//! [`SPILL_CELLS`] on pages of its own, under a lock the collector takes only for a thread
//! and kind with samples in its ring or overflow, to empty them (and give the overflow's pages
//! back). The first sample that finds the overflow full too makes the cells dense: the samples
//! kept so far are counted in them, the overflow's pages go back, and every later sample is
//! counted in them, one byte a cell ([`Cells::narrow`], carrying 256 into the 8-byte cell where
//! one fills), until the next collection that finds the owner between two samples reads them and
//! takes them back ([`KindCells::stop_dense`]), so they hold one interval's samples at most. The
//! collector must know that the owner is not halfway through a sample, which the owner says by a
//! flag around each one and the collector reads after a barrier on every thread (`membarrier`),
//! so the owner's record needs no fence.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::monitor::cells::Cells;
use crate::monitor::recorder::Layout;

/// Samples a thread keeps as the indices of their cells before it counts them in the cells
/// themselves: while the collector takes them out faster than they come, no cell is written and
/// no page of cells becomes resident.
const RECENT: usize = 256;

/// Cells of the overflow: two pages after the histogram's cells, resident only while they hold
/// samples' cell indices, packed four to a cell (16 bits each) where the layout has at most 65,536
/// cells (18,432 at the default bounds), else two: 4,096 indices, or 2,048. A thread may so copy
/// 16 full rings aside (8 with the wider indices) between two collections before its cells become
/// dense and take them. Dense, the one-byte cells between 0.2 and 20 ms (5,951 at the default
/// bounds) make 2 or 3 pages resident, until a collection takes them back.
const SPILL_CELLS: usize = 1024;

/// Cell indices of 16 bits one cell of the overflow holds: the most of any width.
const MOST_INDICES_PER_CELL: usize = 64 / 16;

/// Cells of a kind's tail (32 KiB of address space after the histogram's cells, resident only
/// where written): the overflow while the cells are not dense, and while they are (a collection
/// found their owner halfway through a sample), the collector's last reading of them, packed (2
/// bytes a cell for neighbouring counts below 128:
/// a burst of log-uniform samples over the 5,951 cells between 0.2 and 20 ms took 11,903
/// bytes). A reading that does not fit is kept on the heap instead.
const TAIL_CELLS: usize = 4 * 1024;

/// What [`KindCells::stop_dense`] did.
pub(crate) enum StopDense<'a> {
    /// The cells are no longer dense, and the owner cannot make them so again while this lock is
    /// held.
    Stopped(MutexGuard<'a, usize>),
    /// The owner may be halfway through a sample: the cells stay dense, and the sample may not be
    /// in them yet.
    MidSample,
    /// The OS offers no barrier on every thread: the cells stay dense.
    Unsupported,
}

/// One kind's cells in one slot. On cache lines of its own: the owner writes `writing` and the
/// counts on every sample, and a line shared with the next allocation on the heap (another
/// thread's cells, say) made two recording threads 3-4 times slower in some runs of the
/// recording bench.
#[repr(align(64))]
pub(crate) struct KindCells {
    pub(crate) count: AtomicU64,
    pub(crate) sum: AtomicU64,
    pub(crate) max: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) clamped: AtomicU64,
    pub(super) countdown: AtomicU64,
    /// Set by the owner, under `spill`'s lock, when it finds the ring and the overflow full, once
    /// it has counted their samples in `hist` and before it counts the sample that found them so
    /// (the shared fallback slot is made with it set): then the collector reads the cells. Cleared by the collector, under the same lock, when it
    /// takes the cells back ([`KindCells::stop_dense`]).
    pub(crate) dense: AtomicBool,
    /// Set by the owner from before it looks at `dense` until its sample is in the ring or the
    /// cells: while it is set, the collector may not take the cells back.
    pub(super) writing: AtomicBool,
    /// Set by the owner when it first carries a full narrow cell into its 8-byte cell: from then
    /// on the collector reads both, until the cells are given back (which clears it).
    carried: AtomicBool,
    /// Samples written to `recent` so far, by the owner (released after each).
    written: AtomicU64,
    /// Samples of `recent` taken out, by the collector or by the owner copying them into the
    /// overflow or counting them in the cells, each under `spill`'s lock (released after
    /// reading).
    drained: AtomicU64,
    /// A ring of the latest samples' cell indices, at `written % RECENT`.
    recent: [AtomicU32; RECENT],
    /// The overflow: how many cell indices `hist`'s tail holds (`index_bits` each), copied out of the
    /// full ring by the owner ([`KindCells::keep`]), until the collector takes them
    /// ([`KindCells::take_kept`]) and gives the tail's pages back. Under this lock the owner
    /// copies and the collector empties the ring and the overflow: each moves `drained` only
    /// while holding it. When the overflow is full too, the owner counts the ring's and the
    /// overflow's samples in `hist`, gives the tail's pages back, sets `dense` and counts every
    /// later sample in `hist`: while the cells are dense the overflow is empty.
    spill: Mutex<usize>,
    /// Whether the overflow holds samples: set by the owner, cleared by the collector, under its
    /// lock.
    spilled: AtomicBool,
    /// Bits of each cell index in the overflow: 16, or 32 for a layout of more than 65,536 cells.
    index_bits: u32,
    pub(crate) hist: Cells,
}

impl KindCells {
    /// Most samples the ring and the overflow hold together, which [`KindCells::take_kept`] may
    /// take out at once.
    pub(crate) const MOST_KEPT: usize = RECENT + MOST_INDICES_PER_CELL * SPILL_CELLS;

    pub(super) fn new(layout: &Layout, dense: bool) -> Self {
        KindCells {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            countdown: AtomicU64::new(0),
            dense: AtomicBool::new(dense),
            writing: AtomicBool::new(false),
            carried: AtomicBool::new(false),
            written: AtomicU64::new(0),
            drained: AtomicU64::new(0),
            recent: std::array::from_fn(|_| AtomicU32::new(0)),
            spill: Mutex::new(0),
            spilled: AtomicBool::new(false),
            index_bits: if layout.len() <= 1 << 16 { 16 } else { 32 },
            // The shared fallback slot never keeps samples aside.
            hist: Cells::with_tail(layout.len(), !dense, if dense { 0 } else { TAIL_CELLS }),
        }
    }

    /// Keeps a sample of cell `index` in the ring (owner only), copying a full ring into the
    /// overflow first; false when the overflow is full too, which has made these cells dense.
    /// Not inlined: only threads whose cells are not dense come here, and a dense thread's record
    /// stays small.
    #[inline(never)]
    pub(super) fn keep(&self, index: u32) -> bool {
        let written = self.written.load(Ordering::Relaxed);
        if written.wrapping_sub(self.drained.load(Ordering::Acquire)) >= RECENT as u64
            && !self.spill_ring()
        {
            return false;
        }
        self.recent[written as usize % RECENT].store(index, Ordering::Relaxed);
        self.written
            .store(written.wrapping_add(1), Ordering::Release);
        true
    }

    /// Counts a sample of cell `index` in the cells (owner only, its cells dense): in its narrow
    /// cell, which past 255 goes back to zero and carries 256 into the 8-byte cell.
    #[inline(always)]
    pub(super) fn count_dense(&self, index: usize) {
        let narrow = &self.hist.narrow()[index];
        let n = narrow.load(Ordering::Relaxed);
        if n < u8::MAX {
            narrow.store(n + 1, Ordering::Relaxed);
        } else {
            self.carry(index);
        }
    }

    /// Counts the 256th sample of a narrow cell by carrying 256 into its 8-byte cell (owner only):
    /// the narrow cell goes to zero first, and the 8-byte count is released after, so a reader
    /// that loads the 8-byte cell (acquiring) before the narrow one may find their sum short, by
    /// 256 for each carry it overlaps, but never above the true count.
    #[cold]
    #[inline(never)]
    fn carry(&self, index: usize) {
        self.start_carry(index);
        self.finish_carry(index);
    }

    /// A carry's first half: the narrow cell at zero, the 256 not yet in the 8-byte cell.
    #[inline(always)]
    pub(super) fn start_carry(&self, index: usize) {
        self.carried.store(true, Ordering::Relaxed);
        self.hist.narrow()[index].store(0, Ordering::Relaxed);
    }

    /// A carry's second half: the 256 in the 8-byte cell, released.
    #[inline(always)]
    pub(super) fn finish_carry(&self, index: usize) {
        let cell = &self.hist[index];
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(256),
            Ordering::Release,
        );
    }

    /// The samples dense cell `i` holds (collector only): its narrow and 8-byte counts together
    /// (the 8-byte one only once the owner has carried into one, so a page of them it never wrote
    /// is not read), or the 8-byte count alone in the shared slot, which has no narrow cells. Read
    /// while the owner may count (a collection that found it halfway through a sample, or no
    /// barrier), a count can fall short of one read before while a carry is under way
    /// ([`KindCells::carry`]): the caller keeps the higher. It is never above the true count.
    pub(crate) fn dense_count(&self, i: usize) -> u64 {
        let mut count = 0;
        self.for_each_dense(i..i + 1, |_, c| count = c);
        count
    }

    /// Calls `f` with each cell of `run` and the samples it holds, as [`KindCells::dense_count`]
    /// says (collector only), at the cost of a load or two a cell.
    pub(crate) fn for_each_dense(&self, run: Range<usize>, mut f: impl FnMut(usize, u64)) {
        let narrow = self.hist.narrow();
        if narrow.is_empty() {
            for (i, cell) in run.clone().zip(&self.hist[run]) {
                f(i, cell.load(Ordering::Relaxed));
            }
        } else if self.carried.load(Ordering::Relaxed) {
            let cells = narrow[run.clone()].iter().zip(&self.hist[run.clone()]);
            for (i, (n, cell)) in run.zip(cells) {
                // The 8-byte count first: with it, the narrow one it was carried from.
                let carried = cell.load(Ordering::Acquire);
                f(i, carried + u64::from(n.load(Ordering::Relaxed)));
            }
        } else {
            for (i, n) in run.clone().zip(&narrow[run]) {
                f(i, u64::from(n.load(Ordering::Relaxed)));
            }
        }
    }

    /// Calls `f` with each run of cells that may hold samples, in order, by the pages resident:
    /// the narrow ones of a thread's own cells, and the 8-byte ones once it has carried into them
    /// (or of the shared slot).
    pub(crate) fn dense_runs(&self, mut f: impl FnMut(Range<usize>)) {
        if self.hist.narrow().is_empty() {
            return self
                .hist
                .resident_runs(|from, run| f(from..from + run.len()));
        }
        if !self.carried.load(Ordering::Relaxed) {
            return self
                .hist
                .resident_narrow_runs(|from, run| f(from..from + run.len()));
        }
        // Both kinds' runs, in order and apart.
        let mut runs = Vec::new();
        self.hist
            .resident_narrow_runs(|from, run| runs.push(from..from + run.len()));
        self.hist
            .resident_runs(|from, run| runs.push(from..from + run.len()));
        runs.sort_unstable_by_key(|r| r.start);
        let mut merged: Option<Range<usize>> = None;
        for run in runs {
            match &mut merged {
                Some(last) if run.start <= last.end => last.end = last.end.max(run.end),
                _ => {
                    if let Some(done) = merged.replace(run) {
                        f(done);
                    }
                }
            }
        }
        if let Some(done) = merged {
            f(done);
        }
    }

    /// Copies the ring's samples into the overflow (owner only); false, copying nothing, when
    /// they do not fit: then the cells are made dense, under the lock.
    #[cold]
    fn spill_ring(&self) -> bool {
        let mut held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        if self.dense.load(Ordering::Relaxed) {
            // The collector tried to take the cells back, and found the owner halfway through a
            // sample (this one): they stayed dense, and its reading of them is kept.
            return false;
        }
        // The collector may have emptied the ring since the owner found it full; while the lock
        // is held, `drained` stays where it is.
        let drained = self.drained.load(Ordering::Acquire);
        let written = self.written.load(Ordering::Relaxed);
        let tail = self.hist.tail();
        let more = written.wrapping_sub(drained) as usize;
        if more == 0 {
            return true;
        }
        if *held + more > self.spill_capacity() {
            // The cells become dense, and take every sample kept so far: the overflow's pages go
            // back at once rather than beside the cells' until the next collection. The
            // collector reads neither while the cells are not dense and this lock is held.
            self.empty_kept(&mut held, |index| self.count_dense(index as usize));
            self.dense.store(true, Ordering::Release);
            return false;
        }
        let (bits, per_cell) = (self.index_bits, self.indices_per_cell());
        let mask = u64::MAX >> (64 - bits);
        for (k, w) in (*held..).zip(drained..written) {
            let index = u64::from(self.recent[w as usize % RECENT].load(Ordering::Relaxed));
            let cell = &tail[k / per_cell];
            let shift = bits * (k % per_cell) as u32;
            let kept = cell.load(Ordering::Relaxed) & !(mask << shift);
            cell.store(kept | index << shift, Ordering::Relaxed);
        }
        *held += more;
        self.spilled.store(true, Ordering::Release);
        self.drained.store(written, Ordering::Release);
        true
    }

    /// Takes out the samples kept in the ring and the overflow since the last call (collector
    /// only), the index of each one's cell, and gives the overflow's pages back. A thread with none is not
    /// locked, and `drained` is stored only when it moves: the collector then writes nothing near
    /// the counts that the owner of a dense thread writes on every sample.
    pub(crate) fn take_kept(&self, out: &mut Vec<u32>) {
        if self.written.load(Ordering::Acquire) == self.drained.load(Ordering::Acquire)
            && !self.spilled.load(Ordering::Acquire)
        {
            return;
        }
        let mut held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        self.empty_kept(&mut held, |index| out.push(index));
    }

    /// Empties the ring and the overflow (`held`, the count under `spill`'s lock, which the
    /// caller holds) into `each`, a cell index a sample, and gives the overflow's pages back
    /// until the ring fills again.
    fn empty_kept(&self, held: &mut usize, mut each: impl FnMut(u32)) {
        let written = self.written.load(Ordering::Acquire);
        let drained = self.drained.load(Ordering::Acquire);
        for w in drained..written {
            each(self.recent[w as usize % RECENT].load(Ordering::Relaxed));
        }
        if written != drained {
            self.drained.store(written, Ordering::Release);
        }
        if *held > 0 {
            self.overflow(*held).for_each(&mut each);
            *held = 0;
            // SAFETY: the owner and the collector write the tail only under `spill`'s lock,
            // held by the caller; with samples in the overflow the cells are not dense (they
            // become so only by emptying it), so no reading of the collector's is kept there.
            unsafe { self.hist.release_tail() };
        }
        self.spilled.store(false, Ordering::Relaxed);
    }

    /// Makes dense cells sparse again (collector only, for a thread's own cells, at each
    /// collection): the owner's samples go to the ring from now on. Returns the overflow's
    /// lock, held while the caller reads the cells one last time and gives them back
    /// ([`Cells::release`]); changes nothing when the owner may be halfway through a sample or the
    /// OS offers no barrier on every thread.
    ///
    /// The owner sets `writing`, then looks at `dense`, with only the compiler kept from swapping
    /// the two; the collector clears `dense`, then runs a barrier on every thread, then looks at
    /// `writing`. Either the owner's look comes after the barrier, and finds `dense` clear, or its
    /// flag is set before the barrier and seen here. A thread that makes its cells dense again
    /// does so under the overflow's lock, which the caller holds until the cells are given back.
    pub(crate) fn stop_dense(&self) -> StopDense<'_> {
        let held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        self.dense.store(false, Ordering::SeqCst);
        let fenced = crate::monitor::cells::fence_every_thread();
        if fenced && !self.writing.load(Ordering::Acquire) {
            return StopDense::Stopped(held);
        }
        self.dense.store(true, Ordering::Release);
        if fenced {
            StopDense::MidSample
        } else {
            StopDense::Unsupported
        }
    }

    /// Gives the cells back to the OS once the caller has read all of them (they then read as
    /// zeros), with the tail that held its last reading of them, and lets go of the lock
    /// [`KindCells::stop_dense`] returned, which kept the owner from making them dense again
    /// meanwhile (collector only). The overflow is empty: cells become dense only by taking what
    /// it held, and nothing is kept aside while they are.
    pub(crate) fn give_back(&self, held: MutexGuard<'_, usize>) {
        debug_assert_eq!(*held, 0, "dense cells with samples in the overflow");
        // SAFETY: the cells are no longer dense and the owner is not halfway through a sample
        // (`stop_dense`), so it does not write them, nor the tail (it spills only under `held`'s
        // lock); the collector, the only reader, is the caller.
        unsafe { self.hist.release_all() };
        self.carried.store(false, Ordering::Relaxed);
        drop(held);
    }

    /// Whether the owner has begun a sample it has not finished (collector only): seen set, its
    /// sample may not be in the ring or the cells yet.
    pub(crate) fn mid_sample(&self) -> bool {
        self.writing.load(Ordering::Acquire)
    }

    /// Keeps the collector's reading of dense cells in their tail (collector only); false,
    /// keeping nothing, when it does not fit. The overflow is empty while the cells are dense,
    /// which this checks under the overflow's lock: the tail is the collector's only then.
    pub(crate) fn keep_reading(&self, bytes: &[u8]) -> bool {
        let held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: with the overflow empty and the cells dense, the owner does not touch the tail:
        // it spills only under this lock, after finding the cells sparse.
        *held == 0 && self.dense.load(Ordering::Relaxed) && unsafe { self.hist.write_tail(bytes) }
    }

    /// The first `held` cell indices in the overflow (under `spill`'s lock, whose count says how
    /// many it holds).
    fn overflow(&self, held: usize) -> impl Iterator<Item = u32> + '_ {
        let (bits, per_cell) = (self.index_bits, self.indices_per_cell() as u32);
        let mask = u64::MAX >> (64 - bits);
        let cells = self.hist.tail().iter().map(|c| c.load(Ordering::Relaxed));
        cells
            .flat_map(move |c| (0..per_cell).map(move |k| ((c >> (bits * k)) & mask) as u32))
            .take(held)
    }

    /// Cell indices one cell of the overflow holds.
    fn indices_per_cell(&self) -> usize {
        64 / self.index_bits as usize
    }

    /// Most cell indices the overflow holds.
    pub(crate) fn spill_capacity(&self) -> usize {
        SPILL_CELLS * self.indices_per_cell()
    }

    /// Cell indices the overflow holds now.
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        *self.spill.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes held in memory: these counts and the ring, and the pages of cells and tail that are
    /// resident.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.hist.resident_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many times each cell's index appears in `indices`.
    fn tally(indices: &[u32], len: usize) -> Vec<u64> {
        let mut counts = vec![0; len];
        for &i in indices {
            counts[i as usize] += 1;
        }
        counts
    }

    #[test]
    fn the_overflow_keeps_every_index_at_its_width_until_it_is_full() {
        // Default bounds: 18,432 cells, indices of 16 bits. Four digits over the same range: more
        // than 65,536 cells, indices of 32 bits, half as many kept.
        for (digits, bits, capacity) in [(3, 16, 4096), (4, 32, 2048)] {
            let layout = Layout::new(1_000, 60_000_000_000, digits).unwrap();
            let cells = KindCells::new(&layout, false);
            assert_eq!((cells.index_bits, cells.spill_capacity()), (bits, capacity));
            let indices: Vec<u32> = (0..(capacity + RECENT) as u64)
                .map(|i| (i * 7_919 % layout.len() as u64) as u32)
                .collect();
            assert!(indices.iter().any(|&i| i > u32::from(u16::MAX)) || bits == 16);
            for &index in &indices {
                assert!(cells.keep(index), "room for every index");
            }
            assert_eq!(cells.spilled(), capacity);
            let mut out = Vec::new();
            cells.take_kept(&mut out);
            assert_eq!(tally(&out, layout.len()), tally(&indices, layout.len()));
            assert_eq!(cells.spilled(), 0);
        }
    }

    #[test]
    fn cells_made_dense_take_the_kept_samples_and_give_the_overflow_back() {
        for digits in [3, 4] {
            let layout = Layout::new(1_000, 60_000_000_000, digits).unwrap();
            let cells = KindCells::new(&layout, false);
            let indices: Vec<u32> = (0..cells.spill_capacity() + RECENT)
                .map(|i| (1 + i * 7_919 % (layout.len() - 1)) as u32)
                .collect();
            for &index in &indices {
                assert!(cells.keep(index));
            }
            let overflow = cells.hist.resident_tail_pages();
            assert!(overflow.is_none_or(|pages| pages > 0));
            assert!(!cells.keep(0), "the ring and the overflow are full");
            assert!(cells.dense.load(Ordering::Relaxed));
            // Every kept sample is in the cells, and nothing is left for the collector to take.
            let counts: Vec<u64> = (0..layout.len()).map(|i| cells.dense_count(i)).collect();
            assert_eq!(counts, tally(&indices, layout.len()));
            let mut out = Vec::new();
            cells.take_kept(&mut out);
            assert!(out.is_empty());
            assert_eq!(cells.spilled(), 0);
            assert!(overflow.is_none() || cells.hist.resident_tail_pages() == Some(0));
            let StopDense::Stopped(held) = cells.stop_dense() else {
                // Where the OS refuses membarrier, cells are never taken back.
                continue;
            };
            cells.give_back(held);
            assert_eq!(
                cells.dense_count(indices[0] as usize),
                0,
                "the cells were given back"
            );
        }
    }

    #[test]
    fn cells_are_not_taken_back_from_an_owner_halfway_through_a_sample() {
        let layout = Layout::new(1_000, 60_000_000_000, 3).unwrap();
        let cells = KindCells::new(&layout, false);
        cells.dense.store(true, Ordering::Relaxed);
        // The owner has set its flag and may have found the cells dense: they stay its own.
        if !crate::monitor::cells::fence_every_thread() {
            // Where the OS refuses membarrier, cells are never taken back.
            cells.writing.store(true, Ordering::Relaxed);
            assert!(matches!(cells.stop_dense(), StopDense::Unsupported));
            assert!(cells.dense.load(Ordering::Relaxed));
            return;
        }
        cells.writing.store(true, Ordering::Relaxed);
        assert!(matches!(cells.stop_dense(), StopDense::MidSample));
        assert!(cells.dense.load(Ordering::Relaxed));
        assert!(cells.mid_sample());
        cells.writing.store(false, Ordering::Relaxed);
        assert!(matches!(cells.stop_dense(), StopDense::Stopped(_)));
        assert!(!cells.dense.load(Ordering::Relaxed));
    }
}
