//! [`KindCells`]: one recording thread's cells for one operation kind of one monitor, and how
//! samples reach them.
//!
//! A kind's histogram cells are written only once a thread records many more samples between two
//! collections than a ring holds: until then each sample's cell index goes into a ring of
//! [`RECENT`] 16-bit entries, which the collector empties on its tick, and no cell is written. A
//! sample that finds the ring full copies the ring into an overflow of [`SPILL_CELLS`] on a page
//! of its own, under a lock the collector takes only for a thread and kind with samples in its
//! ring or overflow, to empty them (and give the overflow's page back). The first sample that
//! finds the overflow full too makes the cells dense: one byte a cell, for the cells from the
//! lowest to the highest the samples kept so far fell in (and [`SPAN_MARGIN`] more on either
//! side), packed with the slot's other kinds' on pages the slot keeps for them
//! ([`SpanPages`]), or on the heap where those are full. The samples kept so far are counted in
//! them, the overflow's page goes back, and every later sample is counted in them; a full byte
//! carries 256 into the cell's 8-byte counter, and a sample outside the bytes goes to the ring
//! (or, with the ring full, to its 8-byte counter). So a thread's dense cells hold one byte for
//! each cell its latencies span, not a page for every 4,096 cells they touch. The next collection
//! that finds the owner between two samples reads them and takes them back
//! ([`KindCells::stop_dense`]), so they hold one interval's samples at most. The collector must know that the owner is not halfway through a
//! sample, which the owner says by a flag around each one and the collector reads after a barrier
//! on every thread (`membarrier`), so the owner's record needs no fence.

use std::ops::Range;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering,
};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::monitor::cells::{Cells, SpanPages};
use crate::monitor::recorder::Layout;

/// Entries of the ring of recent samples' cell indices, 16 bits each (a sample of a layout of
/// more than 65,536 cells takes two): while the collector takes them out faster than they come,
/// no cell is written.
const RECENT: usize = 128;

/// Cells of the overflow: one page after the histogram's cells, resident only while it holds
/// samples' cell indices, packed four to a cell (16 bits each) where the layout has at most 65,536
/// cells (18,432 at the default bounds), else two: 2,048 indices, or 1,024. A thread may so copy
/// 16 full rings aside between two collections before its cells become dense and take them.
const SPILL_CELLS: usize = 512;

/// Cell indices of 16 bits one cell of the overflow holds: the most of any width.
const MOST_INDICES_PER_CELL: usize = 64 / 16;

/// Cells of a kind's tail (32 KiB of address space after the histogram's cells, resident only
/// where written): the overflow while the cells are not dense, and while they are (a collection
/// found their owner halfway through a sample), the collector's last reading of them, packed (2
/// bytes a cell for neighbouring counts below 128:
/// a burst of log-uniform samples over the 5,951 cells between 0.2 and 20 ms took 11,903
/// bytes). A reading that does not fit is kept on the heap instead.
const TAIL_CELLS: usize = 4 * 1024;

/// Cells past the lowest and the highest that the kept samples fell in which dense cells also
/// hold a byte for: a later sample just outside that range still lands in a byte.
const SPAN_MARGIN: usize = 64;

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
    /// it has made the bytes of dense cells and counted their samples in them, and before it
    /// counts the sample that found them so (the shared fallback slot is made with it set): then
    /// the collector reads the cells. Cleared by the collector, under the same lock, when it
    /// takes the cells back ([`KindCells::stop_dense`]).
    pub(crate) dense: AtomicBool,
    /// Set by the owner from before it looks at `dense` until its sample is in the ring or the
    /// cells: while it is set, the collector may not take the cells back.
    pub(super) writing: AtomicBool,
    /// Set by the owner when it first writes an 8-byte cell (carrying a full byte into it, or
    /// counting a sample outside the bytes with the ring full): from then on the collector reads
    /// them too, until the cells are given back (which clears it).
    carried: AtomicBool,
    /// Samples written to `recent` so far, by the owner (released after each).
    written: AtomicU64,
    /// Samples of `recent` taken out, by the collector or by the owner copying them into the
    /// overflow or counting them in the cells, each under `spill`'s lock (released after
    /// reading).
    drained: AtomicU64,
    /// A ring of the latest samples' cell indices, at `written % RECENT` (16 bits), or as two
    /// halves from `2 * (written % (RECENT / 2))` (32 bits).
    recent: [AtomicU16; RECENT],
    /// The overflow: how many cell indices `hist`'s tail holds (`index_bits` each), copied out of the
    /// full ring by the owner ([`KindCells::keep`]), until the collector takes them
    /// ([`KindCells::take_kept`]) and gives the tail's pages back. Under this lock the owner
    /// copies and the collector empties the ring and the overflow: each moves `drained` only
    /// while holding it. When the overflow is full too, the owner makes the bytes of dense
    /// cells, counts the ring's and the overflow's samples in them, gives the tail's pages back,
    /// sets `dense` and counts every later sample in them (one outside them in the ring, or with
    /// the ring full in `hist`): while the cells are dense the overflow is empty.
    spill: Mutex<usize>,
    /// Whether the overflow holds samples: set by the owner, cleared by the collector, under its
    /// lock.
    spilled: AtomicBool,
    /// Bits of each cell index in the ring and the overflow: 16, or 32 for a layout of more than
    /// 65,536 cells.
    index_bits: u32,
    /// The bytes of dense cells, on the slot's pages or the heap: one for each cell from
    /// `span_from`, `span_len` of them (dangling and none while the cells are not dense, nor ever
    /// in the shared fallback slot). Set by the owner, under `spill`'s lock, before it sets
    /// `dense`; taken back by the collector with the cells ([`KindCells::give_back`]).
    span: AtomicPtr<AtomicU8>,
    span_from: AtomicU32,
    span_len: AtomicU32,
    /// Whether the bytes are on the slot's pages for them (else on the heap).
    span_on_pages: AtomicBool,
    /// The slot's pages for its kinds' bytes.
    pages: Arc<SpanPages>,
    /// The shared fallback slot's cells, counted with `fetch_add` straight in the 8-byte cells.
    shared: bool,
    pub(crate) hist: Cells,
}

impl KindCells {
    /// Most samples the ring and the overflow hold together, which [`KindCells::take_kept`] may
    /// take out at once.
    pub(crate) const MOST_KEPT: usize = RECENT + MOST_INDICES_PER_CELL * SPILL_CELLS;

    /// Samples the ring holds.
    #[inline(always)]
    fn ring_capacity(&self) -> u64 {
        if self.index_bits == 16 {
            RECENT as u64
        } else {
            RECENT as u64 / 2
        }
    }

    /// Puts cell index `index` in the ring as sample `written`, the next, and releases it to
    /// the collector (owner only, with room in the ring).
    #[inline(always)]
    fn append(&self, written: u64, index: u32) {
        if self.index_bits == 16 {
            self.recent[written as usize % RECENT].store(index as u16, Ordering::Relaxed);
        } else {
            let at = 2 * (written as usize % (RECENT / 2));
            self.recent[at].store(index as u16, Ordering::Relaxed);
            self.recent[at + 1].store((index >> 16) as u16, Ordering::Relaxed);
        }
        self.written
            .store(written.wrapping_add(1), Ordering::Release);
    }

    /// The cell index of sample `w` in the ring.
    fn at(&self, w: u64) -> u32 {
        if self.index_bits == 16 {
            u32::from(self.recent[w as usize % RECENT].load(Ordering::Relaxed))
        } else {
            let at = 2 * (w as usize % (RECENT / 2));
            u32::from(self.recent[at].load(Ordering::Relaxed))
                | u32::from(self.recent[at + 1].load(Ordering::Relaxed)) << 16
        }
    }

    /// The dense cells' bytes, and the index of the first (none while the cells are not dense).
    #[inline(always)]
    fn span(&self) -> (usize, &[AtomicU8]) {
        let len = self.span_len.load(Ordering::Relaxed) as usize;
        // SAFETY: `span` holds `span_len` bytes, on the slot's pages or of a boxed slice, or is
        // dangling with `span_len` 0; the owner sets them before `dense` (which readers
        // acquire), and only the collector frees them, once no one else reads them
        // ([`KindCells::give_back`]).
        let bytes = unsafe { std::slice::from_raw_parts(self.span.load(Ordering::Relaxed), len) };
        (self.span_from.load(Ordering::Relaxed) as usize, bytes)
    }

    /// The cells the dense cells' bytes are for (none while the cells are not dense).
    fn span_cells(&self) -> Range<usize> {
        let (from, bytes) = self.span();
        from..from + bytes.len()
    }

    /// The byte of cell `index` in the dense cells, if it has one.
    #[inline(always)]
    fn byte(&self, index: usize) -> Option<&AtomicU8> {
        let (from, bytes) = self.span();
        bytes.get(index.wrapping_sub(from))
    }

    /// Makes the dense cells' bytes for cells `low..=high` and [`SPAN_MARGIN`] more on either
    /// side (owner only, under `spill`'s lock, its cells not dense).
    fn make_span(&self, low: usize, high: usize) {
        // Bytes a collector that failed halfway through giving them back left behind (it holds
        // them no longer).
        self.free_span();
        let from = low.saturating_sub(SPAN_MARGIN);
        let to = (high + SPAN_MARGIN + 1).min(self.hist.len());
        let bytes = match self.pages.take(to - from) {
            Some(bytes) => {
                self.span_on_pages.store(true, Ordering::Relaxed);
                bytes.as_ptr()
            }
            None => {
                let bytes: Box<[AtomicU8]> = (from..to).map(|_| AtomicU8::new(0)).collect();
                self.span_on_pages.store(false, Ordering::Relaxed);
                Box::into_raw(bytes).cast::<AtomicU8>()
            }
        };
        self.span_from.store(from as u32, Ordering::Relaxed);
        self.span.store(bytes, Ordering::Relaxed);
        self.span_len.store((to - from) as u32, Ordering::Relaxed);
    }

    /// Frees the dense cells' bytes (the caller keeps everyone else away from them).
    fn free_span(&self) {
        let len = self.span_len.swap(0, Ordering::Relaxed) as usize;
        let ptr = self.span.swap(no_span(), Ordering::Relaxed);
        if len == 0 {
            return;
        }
        if self.span_on_pages.load(Ordering::Relaxed) {
            // SAFETY: taken from these pages in `make_span`, and no longer reachable from `span`.
            unsafe { self.pages.let_go() };
        } else {
            // SAFETY: made by `Box::into_raw` of a boxed slice of `len` bytes in `make_span`, and
            // no longer reachable from `span`.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
        }
    }

    pub(super) fn new(layout: &Layout, dense: bool, pages: Arc<SpanPages>) -> Self {
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
            recent: std::array::from_fn(|_| AtomicU16::new(0)),
            spill: Mutex::new(0),
            spilled: AtomicBool::new(false),
            index_bits: if layout.len() <= 1 << 16 { 16 } else { 32 },
            span: AtomicPtr::new(no_span()),
            span_from: AtomicU32::new(0),
            span_len: AtomicU32::new(0),
            span_on_pages: AtomicBool::new(false),
            pages,
            shared: dense,
            // The shared fallback slot never keeps samples aside.
            hist: Cells::with_tail(layout.len(), if dense { 0 } else { TAIL_CELLS }),
        }
    }

    /// Keeps a sample of cell `index` in the ring (owner only), copying a full ring into the
    /// overflow first; false when the overflow is full too, which has made these cells dense.
    /// Not inlined: only threads whose cells are not dense come here, and a dense thread's record
    /// stays small.
    #[inline(never)]
    pub(super) fn keep(&self, index: u32) -> bool {
        let written = self.written.load(Ordering::Relaxed);
        if !self.ring_has_room(written) && !self.spill_ring() {
            return false;
        }
        self.append(written, index);
        true
    }

    /// Whether the ring has room for one more sample, `written` having been written (owner only).
    #[inline(always)]
    fn ring_has_room(&self, written: u64) -> bool {
        written.wrapping_sub(self.drained.load(Ordering::Acquire)) < self.ring_capacity()
    }

    /// Counts a sample of cell `index` in the cells (owner only, its cells dense): in its byte,
    /// which past 255 goes back to zero and carries 256 into the 8-byte cell; outside the bytes,
    /// in the ring, or with the ring full in the 8-byte cell.
    #[inline(always)]
    pub(super) fn count_dense(&self, index: usize) {
        let Some(byte) = self.byte(index) else {
            return self.count_outside(index);
        };
        let n = byte.load(Ordering::Relaxed);
        if n < u8::MAX {
            byte.store(n + 1, Ordering::Relaxed);
        } else {
            self.carry(byte, index);
        }
    }

    /// Counts a sample of a cell the dense cells hold no byte for (owner only): in the ring, which
    /// the collector empties as it does while the cells are not dense, else (the ring full) in
    /// the 8-byte cell.
    #[cold]
    #[inline(never)]
    fn count_outside(&self, index: usize) {
        let written = self.written.load(Ordering::Relaxed);
        if self.ring_has_room(written) {
            self.append(written, index as u32);
            return;
        }
        self.carried.store(true, Ordering::Relaxed);
        self.add_wide(index, 1);
    }

    /// Counts the 256th sample of a cell's byte by carrying 256 into its 8-byte cell (owner only):
    /// the byte goes to zero first, and the 8-byte count is released after, so a reader that
    /// loads the 8-byte cell (acquiring) before the byte may find their sum short, by
    /// 256 for each carry it overlaps, but never above the true count.
    #[cold]
    #[inline(never)]
    fn carry(&self, byte: &AtomicU8, index: usize) {
        self.start_carry(byte);
        self.finish_carry(index);
    }

    /// A carry's first half: `byte` at zero, the 256 not yet in the 8-byte cell.
    #[inline(always)]
    pub(super) fn start_carry(&self, byte: &AtomicU8) {
        self.carried.store(true, Ordering::Relaxed);
        byte.store(0, Ordering::Relaxed);
    }

    /// A carry's second half: the 256 in the 8-byte cell, released.
    #[inline(always)]
    pub(super) fn finish_carry(&self, index: usize) {
        self.add_wide(index, 256);
    }

    /// Adds `n` to cell `index`'s 8-byte count (owner only), released for the collector.
    #[inline(always)]
    fn add_wide(&self, index: usize, n: u64) {
        let cell = &self.hist[index];
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Release,
        );
    }

    /// The samples dense cell `i` holds (collector only): its byte and 8-byte counts together
    /// (the 8-byte one only once the owner has written one, so a page of them it never wrote is
    /// not read), or the 8-byte count alone in the shared slot, which has no bytes. Read while the
    /// owner may count (a collection that found it halfway through a sample, or no barrier), a
    /// count can fall short of one read before while a carry is under way
    /// ([`KindCells::carry`]): the caller keeps the higher. It is never above the true count.
    pub(crate) fn dense_count(&self, i: usize) -> u64 {
        let mut count = 0;
        self.for_each_dense(i..i + 1, |_, c| count = c);
        count
    }

    /// Calls `f` with each cell of `run` and the samples it holds, as [`KindCells::dense_count`]
    /// says (collector only), at the cost of a load or two a cell.
    pub(crate) fn for_each_dense(&self, run: Range<usize>, mut f: impl FnMut(usize, u64)) {
        if self.shared {
            for (i, cell) in run.clone().zip(&self.hist[run]) {
                f(i, cell.load(Ordering::Relaxed));
            }
            return;
        }
        let carried = self.carried.load(Ordering::Relaxed);
        // The 8-byte count first: with it, the byte it was carried from.
        let wide = |i: usize| {
            if carried {
                self.hist[i].load(Ordering::Acquire)
            } else {
                0
            }
        };
        // The cells of `run` below the bytes, with them, and above them.
        let (from, bytes) = self.span();
        let (low, high) = (run.start.max(from), run.end.min(from + bytes.len()));
        if low >= high {
            return run.for_each(|i| f(i, wide(i)));
        }
        for i in run.start..low {
            f(i, wide(i));
        }
        for (i, byte) in (low..high).zip(&bytes[low - from..high - from]) {
            f(i, wide(i) + u64::from(byte.load(Ordering::Relaxed)));
        }
        for i in high..run.end {
            f(i, wide(i));
        }
    }

    /// Calls `f` with each run of cells that may hold samples, resident or not (collector only, to
    /// read the cells a last time before they are given back): the cells with bytes, or every
    /// cell once the owner has written an 8-byte one (a page of them swapped out may hold
    /// samples). Before any is written, the 8-byte cells are all zero: given back at the last
    /// collection that took the cells, or never written.
    pub(crate) fn all_runs(&self, mut f: impl FnMut(Range<usize>)) {
        // only a thread's own cells are given back, never the shared slot's
        debug_assert!(!self.shared);
        if self.carried.load(Ordering::Relaxed) {
            return f(0..self.hist.len());
        }
        let span = self.span_cells();
        if !span.is_empty() {
            f(span);
        }
    }

    /// Calls `f` with each run of cells that may hold samples, in order: the cells with bytes, and
    /// the 8-byte ones on resident pages once the owner has written one (or of the shared slot).
    pub(crate) fn dense_runs(&self, mut f: impl FnMut(Range<usize>)) {
        if self.shared {
            return self
                .hist
                .resident_runs(|from, run| f(from..from + run.len()));
        }
        let span = self.span_cells();
        if !self.carried.load(Ordering::Relaxed) {
            if !span.is_empty() {
                f(span);
            }
            return;
        }
        // Both, in order and apart.
        let mut runs = vec![span];
        self.hist
            .resident_runs(|from, run| runs.push(from..from + run.len()));
        runs.retain(|r| !r.is_empty());
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
            // The cells become dense, with a byte for each cell from the lowest to the highest
            // the samples kept so far fell in, and take every one of them: the overflow's page
            // goes back at once rather than beside the cells until the next collection. The
            // collector reads neither while the cells are not dense and this lock is held.
            let (mut low, mut high) = (u32::MAX, 0);
            for index in (drained..written)
                .map(|w| self.at(w))
                .chain(self.overflow(*held))
            {
                (low, high) = (low.min(index), high.max(index));
            }
            self.make_span(low as usize, high as usize);
            self.empty_kept(&mut held, |index| self.count_dense(index as usize));
            self.dense.store(true, Ordering::Release);
            return false;
        }
        let (bits, per_cell) = (self.index_bits, self.indices_per_cell());
        let mask = u64::MAX >> (64 - bits);
        for (k, w) in (*held..).zip(drained..written) {
            let index = u64::from(self.at(w));
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
            each(self.at(w));
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
    /// ([`KindCells::give_back`]); changes nothing when the owner may be halfway through a sample or the
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
        self.free_span();
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

    /// Bytes held in memory: these counts and the ring, the dense cells' bytes on the heap, and
    /// the pages of cells and tail that are resident (the slot counts the pages its kinds' bytes
    /// share).
    pub(crate) fn bytes(&self) -> usize {
        let on_heap = !self.span_on_pages.load(Ordering::Relaxed);
        std::mem::size_of::<Self>()
            + if on_heap {
                self.span_len.load(Ordering::Relaxed) as usize
            } else {
                0
            }
            + self.hist.resident_bytes()
    }

    /// The cell indices in the ring, not taken out.
    #[cfg(test)]
    pub(crate) fn in_ring(&self) -> Vec<u32> {
        let (drained, written) = (
            self.drained.load(Ordering::Acquire),
            self.written.load(Ordering::Acquire),
        );
        (drained..written).map(|w| self.at(w)).collect()
    }

    /// Bytes of dense cells held.
    #[cfg(test)]
    pub(crate) fn span_bytes(&self) -> usize {
        self.span_len.load(Ordering::Relaxed) as usize
    }

    /// The byte dense cell `index` counts in, if it has one (for tests that stand in for the
    /// owner).
    #[cfg(test)]
    pub(crate) fn byte_of(&self, index: usize) -> Option<&AtomicU8> {
        self.byte(index)
    }
}

/// Where `span` points while the cells have no bytes: dangling, never read (`span_len` is 0).
fn no_span() -> *mut AtomicU8 {
    std::ptr::NonNull::dangling().as_ptr()
}

impl Drop for KindCells {
    fn drop(&mut self) {
        self.free_span();
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
        for (digits, bits, capacity) in [(3, 16, 2048), (4, 32, 1024)] {
            let layout = Layout::new(1_000, 60_000_000_000, digits).unwrap();
            let cells = KindCells::new(&layout, false, Arc::new(SpanPages::new(layout.len())));
            assert_eq!((cells.index_bits, cells.spill_capacity()), (bits, capacity));
            let indices: Vec<u32> = (0..capacity as u64 + cells.ring_capacity())
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
            let cells = KindCells::new(&layout, false, Arc::new(SpanPages::new(layout.len())));
            let indices: Vec<u32> = (0..cells.spill_capacity() + cells.ring_capacity() as usize)
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
    fn dense_cells_hold_a_byte_for_the_cells_kept_samples_span_and_count_the_rest_apart() {
        for digits in [3, 4] {
            let layout = Layout::new(1_000, 60_000_000_000, digits).unwrap();
            let cells = KindCells::new(&layout, false, Arc::new(SpanPages::new(layout.len())));
            let (low, high) = (layout.index(200_000), layout.index(20_000_000));
            let kept = cells.spill_capacity() + cells.ring_capacity() as usize;
            let indices: Vec<usize> = (0..kept)
                .map(|i| low + i * 7_919 % (high - low + 1))
                .collect();
            for &index in &indices {
                assert!(cells.keep(index as u32));
            }
            assert!(!cells.keep(high as u32));
            cells.count_dense(high);
            // A byte for each cell from the lowest to the highest kept, and the margin.
            let (seen_low, seen_high) =
                (indices.iter().min().unwrap(), indices.iter().max().unwrap());
            assert_eq!(
                cells.span_bytes(),
                seen_high - seen_low + 1 + 2 * SPAN_MARGIN
            );
            assert!(cells.byte_of(seen_low - SPAN_MARGIN).is_some());
            assert!(cells.byte_of(seen_low - SPAN_MARGIN - 1).is_none());
            assert!(cells.byte_of(seen_high + SPAN_MARGIN).is_some());
            assert!(cells.byte_of(seen_high + SPAN_MARGIN + 1).is_none());
            // Outside the bytes: the ring first, then the 8-byte cell, nothing on the bytes.
            let (below, above) = (seen_low - SPAN_MARGIN - 1, layout.index(30_000_000_000));
            let ring = cells.ring_capacity() as usize;
            for k in 0..ring + 10 {
                cells.count_dense(if k % 2 == 0 { below } else { above });
            }
            let mut out = Vec::new();
            cells.take_kept(&mut out);
            assert_eq!(out.len(), ring);
            let in_ring = |i| out.iter().filter(|&&o| o as usize == i).count() as u64;
            assert_eq!(
                cells.dense_count(below) + in_ring(below),
                (ring as u64 + 10) / 2
            );
            assert_eq!(
                cells.dense_count(above) + in_ring(above),
                (ring as u64 + 10) / 2
            );
            assert_eq!(
                cells.hist[below].load(Ordering::Relaxed)
                    + cells.hist[above].load(Ordering::Relaxed),
                10
            );
            let mut counts = vec![0u64; layout.len()];
            cells.for_each_dense(0..layout.len(), |i, c| counts[i] = c);
            // Any run reads the same counts, each of its cells once, in order.
            let edge = seen_high + SPAN_MARGIN;
            for run in [
                0..100,
                below - 5..below + 5,
                seen_low - 70..seen_low + 3,
                seen_high - 3..edge + 100,
                edge + 1..edge + 50,
                above - 1..above + 1,
                0..layout.len(),
            ] {
                let mut read = Vec::new();
                cells.for_each_dense(run.clone(), |i, c| read.push((i, c)));
                let want: Vec<(usize, u64)> = run.clone().map(|i| (i, counts[i])).collect();
                assert!(read == want, "run {run:?}");
            }
            let mut runs = Vec::new();
            cells.dense_runs(|run| runs.push(run));
            for (i, &c) in counts.iter().enumerate() {
                assert!(
                    c == 0 || runs.iter().any(|r| r.contains(&i)),
                    "cell {i} outside the runs"
                );
            }
            assert_eq!(counts.iter().sum::<u64>(), kept as u64 + 1 + 10);
            let StopDense::Stopped(held) = cells.stop_dense() else {
                continue;
            };
            cells.give_back(held);
            assert_eq!(cells.span_bytes(), 0);
            assert!(cells.byte_of(high).is_none());
            assert_eq!(cells.dense_count(above), 0);
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_thread_and_kind_holds_the_state_the_readme_counts() {
        // README, per-thread figures: 448 bytes a kind, and a slot of 544 (8-byte pointers to
        // its 64 kinds), measured with `size_of`; more would eat the margin under 8 KiB.
        assert!(std::mem::size_of::<KindCells>() <= 448);
        assert!(std::mem::size_of::<crate::monitor::recorder::Slot>() <= 544);
    }

    #[test]
    fn cells_are_not_taken_back_from_an_owner_halfway_through_a_sample() {
        let layout = Layout::new(1_000, 60_000_000_000, 3).unwrap();
        let cells = KindCells::new(&layout, false, Arc::new(SpanPages::new(layout.len())));
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
