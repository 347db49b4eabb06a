//! The recording hot path behind `MonitorHandle`: per-thread histogram cells, no allocation, and
//! no lock but when a ring of recent samples overflows (below).
//!
//! Each recording thread owns one [`Slot`] per monitor (found through a thread-local cache). A slot
//! holds, per operation kind, exact counters and a histogram laid out exactly like an
//! `hdrhistogram::Histogram` with the monitor's bounds. Only its owner thread writes its counts and
//! cells, with a relaxed load and store (plain moves, no locked instruction), so counts are exact
//! without read-modify-write; the collector writes only the ring's and the overflow's state below.
//! The monitor actor reads every slot concurrently on its tick and takes deltas against its previous
//! snapshot; nothing its owner may be writing is zeroed, so a slot abandoned by an exited thread
//! can be handed to a new thread with its counters as they are.
//!
//! A kind's histogram cells are written only once a thread records many more samples between two
//! collections than a ring holds: until then each sample's cell index goes into a ring of
//! [`RECENT`], which the collector empties on its tick, and none of the cells' pages becomes
//! resident. A sample that finds the ring full copies the ring into an overflow of
//! [`SPILL_RINGS`] rings on pages of its own, under a lock the collector takes only for a thread
//! and kind with samples in its ring or overflow, to empty them (and give the overflow's pages
//! back). The first sample that finds the overflow full too makes the cells dense: every later
//! sample is counted in them, until the thread records nothing for a whole collection. The
//! collector then takes the cells back ([`KindCells::stop_dense`]): it must know that the owner is
//! not halfway through a sample, which the owner says by a flag around each one and the collector
//! reads after a barrier on every thread (`membarrier`), so the owner's record needs no fence.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::monitor::cells::Cells;

/// Operation kinds a monitor can hold: two built in, the rest named at run time.
pub const MAX_KINDS: usize = 64;

/// Counters a monitor can hold, each named at run time.
pub const MAX_COUNTERS: usize = 64;

/// Gauges a monitor can hold, each named at run time.
pub const MAX_GAUGES: usize = 64;

/// An operation kind of one monitor: [`OpKind::QUERY`], [`OpKind::INDEX`], or one registered by name.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// let recorder = store.recorder();
/// assert_eq!(recorder.kind("query"), Some(OpKind::QUERY));
/// let suggest = recorder.kind("suggest").unwrap();
/// recorder.record(suggest, Duration::from_millis(1));
/// store.collect();
/// assert_eq!(store.stats().kind("suggest").unwrap().total, 1);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpKind(pub(crate) u8);

impl OpKind {
    /// Queries answered.
    pub const QUERY: OpKind = OpKind(0);
    /// Batches indexed.
    pub const INDEX: OpKind = OpKind(1);
}

/// The bucket layout of an `hdrhistogram::Histogram` with the same bounds, so cell `i` of a slot is
/// bucket `i` of the histogram the collector merges it into.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::monitor::Layout;
///
/// // The default bounds: 1 µs to 60 s, in nanoseconds, at 3 significant digits.
/// let layout = Layout::new(1_000, 60_000_000_000, 3)?;
/// assert_eq!(layout.bytes(), 147_456);
/// assert_eq!(layout.histogram().distinct_values(), layout.len());
/// let cell = layout.index(2_500_000);
/// assert!(layout.value(cell) <= 2_500_000 && 2_500_000 < layout.value(cell + 1));
/// assert!(Layout::new(1_000, 1_500, 3).is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug)]
pub struct Layout {
    low: u64,
    high: u64,
    sigfig: u8,
    unit_magnitude: u32,
    sub_bucket_half_count_magnitude: u32,
    sub_bucket_half_count: u32,
    sub_bucket_mask: u64,
    leading_zero_count_base: u32,
    len: usize,
}

impl Layout {
    /// The layout of `Histogram::new_with_bounds(low, high, sigfig)` (values in nanoseconds).
    pub fn new(low: u64, high: u64, sigfig: u8) -> Result<Self, String> {
        // hdrhistogram's own checks of the bounds; no histogram is built, which would allocate
        // (and free) every cell for each monitor made.
        if low < 1 || sigfig > 5 || low.checked_mul(2).is_none_or(|twice| high < twice) {
            return Err(format!(
                "histogram bounds {low}..{high} at {sigfig} digits: lowest must be at least 1, \
                 highest at least twice lowest, and 0 to 5 digits"
            ));
        }
        let largest = 2 * 10u32.pow(u32::from(sigfig));
        let unit_magnitude = (low as f64).log2().floor() as u32;
        let sub_bucket_count_magnitude = f64::from(largest).log2().ceil() as u32;
        let sub_bucket_half_count_magnitude = sub_bucket_count_magnitude - 1;
        let sub_bucket_count = 1u32 << sub_bucket_count_magnitude;
        if unit_magnitude + sub_bucket_half_count_magnitude > 61 {
            return Err(format!(
                "histogram bounds {low}..{high} at {sigfig} digits: too wide for 64-bit values"
            ));
        }
        // Buckets needed to cover `high`, as hdrhistogram counts them.
        let mut smallest_untrackable = u64::from(sub_bucket_count) << unit_magnitude;
        let mut buckets = 1usize;
        while smallest_untrackable <= high {
            if smallest_untrackable > u64::MAX / 2 {
                buckets += 1;
                break;
            }
            smallest_untrackable <<= 1;
            buckets += 1;
        }
        let len = (buckets + 1) * (sub_bucket_count as usize / 2);
        Ok(Layout {
            low,
            high,
            sigfig,
            unit_magnitude,
            sub_bucket_half_count_magnitude,
            sub_bucket_half_count: sub_bucket_count / 2,
            sub_bucket_mask: (u64::from(sub_bucket_count) - 1) << unit_magnitude,
            leading_zero_count_base: 64 - unit_magnitude - sub_bucket_count_magnitude,
            len,
        })
    }

    /// The bounds this layout was made from: (lowest, highest, significant digits).
    pub(crate) fn bounds(&self) -> (u64, u64, u8) {
        (self.low, self.high, self.sigfig)
    }

    /// Cells per histogram.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the layout has no cells (never: a histogram has at least one bucket).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest value recorded as itself; larger ones are clamped to it.
    pub fn high(&self) -> u64 {
        self.high
    }

    /// Bytes of one histogram's cells.
    pub fn bytes(&self) -> usize {
        self.len * std::mem::size_of::<u64>()
    }

    /// A fresh `hdrhistogram::Histogram` with this layout.
    pub fn histogram(&self) -> Histogram<u64> {
        Histogram::new_with_bounds(self.low, self.high, self.sigfig)
            .expect("bounds were validated when the layout was built")
    }

    /// The cell of `value` (which must be at most `high`).
    #[inline(always)]
    pub fn index(&self, value: u64) -> usize {
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (value >> (bucket + self.unit_magnitude)) as u32;
        (((bucket + 1) << self.sub_bucket_half_count_magnitude) + sub_bucket
            - self.sub_bucket_half_count) as usize
    }

    /// The lowest value of cell `index`.
    pub fn value(&self, index: usize) -> u64 {
        let mut bucket = (index >> self.sub_bucket_half_count_magnitude) as i64 - 1;
        let mut sub_bucket =
            (index as u32 & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count;
        if bucket < 0 {
            sub_bucket -= self.sub_bucket_half_count;
            bucket = 0;
        }
        u64::from(sub_bucket) << (bucket as u32 + self.unit_magnitude)
    }
}

/// Adds `n` to a cell that only the calling thread writes: a relaxed load and store, no lock prefix.
#[inline(always)]
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Samples a thread keeps as the indices of their cells before it counts them in the cells
/// themselves: while the collector takes them out faster than they come, no cell is written and
/// no page of cells becomes resident.
const RECENT: usize = 256;

/// Full rings a thread may copy aside between two collections before its cells become dense:
/// 2,048 samples' cell indices, packed two to a cell on two pages after the histogram's cells,
/// resident only while they hold samples. Dense, the cells between 0.2 and 20 ms (5,951 at the
/// default bounds) make about 13 pages (52 KiB) resident, and stay so.
const SPILL_RINGS: usize = 8;

/// Cells of the overflow: its indices, two to a cell.
const SPILL_CELLS: usize = SPILL_RINGS * RECENT / 2;

/// Cells of a kind's tail (32 KiB of address space after the histogram's cells, resident only
/// where written): the overflow while the cells are not dense, and while they are, the
/// collector's last reading of them, packed (2 bytes a cell for neighbouring counts below 128:
/// the 5,951 cells between 0.2 and 20 ms take 12 KiB). A reading that does not fit is kept on
/// the heap instead.
const TAIL_CELLS: usize = 4 * 1024;

/// One kind's cells in one slot.
pub(crate) struct KindCells {
    pub(crate) count: AtomicU64,
    pub(crate) sum: AtomicU64,
    pub(crate) max: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) clamped: AtomicU64,
    countdown: AtomicU64,
    /// Set by the owner, under `spill`'s lock, when it finds the ring and the overflow full, just
    /// before it counts its first sample in `hist` (the shared fallback slot is made with it set):
    /// then the collector reads the cells. Cleared by the collector, under the same lock, when it
    /// takes the cells of an idle thread back ([`KindCells::stop_dense`]).
    pub(crate) dense: AtomicBool,
    /// Set by the owner from before it looks at `dense` until its sample is in the ring or the
    /// cells: while it is set, the collector may not take the cells back.
    writing: AtomicBool,
    /// Samples written to `recent` so far, by the owner (released after each).
    written: AtomicU64,
    /// Samples of `recent` taken out, by the collector or by the owner copying them into the
    /// overflow, each under `spill`'s lock (released after reading).
    drained: AtomicU64,
    /// A ring of the latest samples' cell indices, at `written % RECENT`.
    recent: [AtomicU32; RECENT],
    /// The overflow: how many cell indices `hist`'s tail holds (two to a cell), copied out of the
    /// full ring by the owner ([`KindCells::keep`]), until the collector takes them
    /// ([`KindCells::take_kept`]) and gives the tail's pages back. Under this lock the owner
    /// copies and the collector empties the ring and the overflow: each moves `drained` only
    /// while holding it. When the overflow is full too, the owner sets `dense` and counts every
    /// later sample in `hist`.
    spill: Mutex<usize>,
    /// Whether the overflow holds samples: set by the owner, cleared by the collector, under its
    /// lock.
    spilled: AtomicBool,
    pub(crate) hist: Cells,
}

impl KindCells {
    fn new(layout: &Layout, dense: bool) -> Self {
        KindCells {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            countdown: AtomicU64::new(0),
            dense: AtomicBool::new(dense),
            writing: AtomicBool::new(false),
            written: AtomicU64::new(0),
            drained: AtomicU64::new(0),
            recent: std::array::from_fn(|_| AtomicU32::new(0)),
            spill: Mutex::new(0),
            spilled: AtomicBool::new(false),
            // The shared fallback slot never keeps samples aside.
            hist: Cells::with_tail(layout.len, if dense { 0 } else { TAIL_CELLS }),
        }
    }

    /// Keeps a sample of cell `index` in the ring (owner only), copying a full ring into the
    /// overflow first; false when the overflow is full too, which has made these cells dense.
    /// Not inlined: only threads whose cells are not dense come here, and a dense thread's record
    /// stays small.
    #[inline(never)]
    fn keep(&self, index: u32) -> bool {
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

    /// Copies the ring's samples into the overflow (owner only); false, copying nothing, when
    /// they do not fit: then the cells are made dense, under the lock.
    #[cold]
    fn spill_ring(&self) -> bool {
        let mut held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        if self.dense.load(Ordering::Relaxed) {
            // The collector tried to take the cells back, and found the owner halfway through a
            // sample (this one): they stayed dense, and the tail holds its reading of them.
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
        if *held + more > 2 * SPILL_CELLS {
            self.dense.store(true, Ordering::Release);
            return false;
        }
        for (k, w) in (*held..).zip(drained..written) {
            let index = u64::from(self.recent[w as usize % RECENT].load(Ordering::Relaxed));
            let pair = &tail[k / 2];
            let shift = 32 * (k % 2);
            let kept = pair.load(Ordering::Relaxed) & !(u64::from(u32::MAX) << shift);
            pair.store(kept | index << shift, Ordering::Relaxed);
        }
        *held += more;
        self.spilled.store(true, Ordering::Release);
        self.drained.store(written, Ordering::Release);
        true
    }

    /// Takes out the samples kept in the ring and the overflow since the last call (collector
    /// only), one `(cell, 1)` each, and gives the overflow's pages back. A thread with none is not
    /// locked, and `drained` is stored only when it moves: the collector then writes nothing near
    /// the counts that the owner of a dense thread writes on every sample.
    pub(crate) fn take_kept(&self, out: &mut Vec<(u32, u64)>) {
        if self.written.load(Ordering::Acquire) == self.drained.load(Ordering::Acquire)
            && !self.spilled.load(Ordering::Acquire)
        {
            return;
        }
        let mut held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        let written = self.written.load(Ordering::Acquire);
        let drained = self.drained.load(Ordering::Acquire);
        for w in drained..written {
            out.push((self.recent[w as usize % RECENT].load(Ordering::Relaxed), 1));
        }
        if written != drained {
            self.drained.store(written, Ordering::Release);
        }
        if *held > 0 {
            let pairs = self.hist.tail().iter().map(|p| p.load(Ordering::Relaxed));
            let indices = pairs.flat_map(|p| [p as u32, (p >> 32) as u32]).take(*held);
            out.extend(indices.map(|i| (i, 1)));
            *held = 0;
            // Its pages go back to the OS until the ring fills again.
            // SAFETY: the owner touches the tail only under `spill`'s lock, held here.
            unsafe { self.hist.release_tail() };
        }
        self.spilled.store(false, Ordering::Relaxed);
    }

    /// Makes dense cells sparse again (collector only, for a thread that recorded nothing since
    /// the last reading): the owner's samples go to the ring from now on. Returns the overflow's
    /// lock, held while the caller reads the cells one last time and gives them back
    /// ([`Cells::release`]); `None`, changing nothing, when the owner may be halfway through a
    /// sample or the OS offers no barrier on every thread.
    ///
    /// The owner sets `writing`, then looks at `dense`, with only the compiler kept from swapping
    /// the two; the collector clears `dense`, then runs a barrier on every thread, then looks at
    /// `writing`. Either the owner's look comes after the barrier, and finds `dense` clear, or its
    /// flag is set before the barrier and seen here. A thread that makes its cells dense again
    /// does so under the overflow's lock, which the caller holds until the cells are given back.
    pub(crate) fn stop_dense(&self) -> Option<std::sync::MutexGuard<'_, usize>> {
        let held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        self.dense.store(false, Ordering::SeqCst);
        if !crate::monitor::cells::fence_every_thread() || self.writing.load(Ordering::Acquire) {
            self.dense.store(true, Ordering::Release);
            return None;
        }
        Some(held)
    }

    /// Keeps the collector's reading of dense cells in their tail (collector only); false,
    /// keeping nothing, when it does not fit or the tail holds the overflow's samples (spilled
    /// since the collector last took them, before the cells became dense).
    pub(crate) fn keep_reading(&self, bytes: &[u8]) -> bool {
        let held = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: with the overflow empty and the cells dense, the owner does not touch the tail:
        // it spills only under this lock, after finding the cells sparse.
        *held == 0 && self.dense.load(Ordering::Relaxed) && unsafe { self.hist.write_tail(bytes) }
    }

    /// Cell indices the overflow holds now.
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        *self.spill.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.hist.reserved() * std::mem::size_of::<AtomicU64>()
    }
}

/// One thread's counter cells, allocated on the thread's first increment of any counter.
pub(crate) type CounterCells = [AtomicU64; MAX_COUNTERS];

/// One thread's cells for one monitor.
pub(crate) struct Slot {
    /// Boxed, so a slot without samples of a kind holds only an empty cell for it.
    pub(crate) kinds: [OnceLock<Box<KindCells>>; MAX_KINDS],
    pub(crate) counters: OnceLock<Box<CounterCells>>,
    /// Set when the owning thread exits; a new thread may then claim the slot.
    free: AtomicBool,
    /// Whether the writers use `fetch_add` (the shared fallback slot) or owner-only stores.
    pub(crate) shared: bool,
}

impl Slot {
    fn new(shared: bool) -> Self {
        Slot {
            kinds: std::array::from_fn(|_| OnceLock::new()),
            counters: OnceLock::new(),
            free: AtomicBool::new(false),
            shared,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .kinds
                .iter()
                .filter_map(|k| k.get())
                .map(|cells| cells.bytes())
                .sum::<usize>()
            + self
                .counters
                .get()
                .map_or(0, |_| std::mem::size_of::<CounterCells>())
    }

    #[inline(always)]
    fn counters(&self) -> &CounterCells {
        match self.counters.get() {
            Some(cells) => cells,
            None => self.init_counters(),
        }
    }

    #[cold]
    #[inline(never)]
    fn init_counters(&self) -> &CounterCells {
        self.counters
            .get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU64::new(0))))
    }
}

/// What a monitor's recorders share: the layout, the sampling rate, every slot.
pub(crate) struct Recorders {
    pub(crate) id: u64,
    pub(crate) layout: Layout,
    /// Record one latency sample in this many (1 = all). Counts stay exact.
    pub(crate) sample_every: AtomicU32,
    pub(crate) slots: Mutex<Vec<Arc<Slot>>>,
    /// Used with `fetch_add` when a thread's local storage is already torn down.
    pub(crate) fallback: Arc<Slot>,
    /// Each gauge's value as `f64` bits; one cell per gauge, shared by every thread.
    pub(crate) gauges: Box<[AtomicU64; MAX_GAUGES]>,
}

static NEXT_RECORDERS_ID: AtomicU64 = AtomicU64::new(1);

impl Recorders {
    pub(crate) fn new(layout: Layout) -> Arc<Self> {
        let fallback = Arc::new(Slot::new(true));
        Arc::new(Recorders {
            id: NEXT_RECORDERS_ID.fetch_add(1, Ordering::Relaxed),
            layout,
            sample_every: AtomicU32::new(1),
            slots: Mutex::new(vec![fallback.clone()]),
            fallback,
            gauges: Box::new(std::array::from_fn(|_| AtomicU64::new(0f64.to_bits()))),
        })
    }

    fn claim_slot(&self) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for slot in slots.iter() {
            if !slot.shared
                && slot
                    .free
                    .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return slot.clone();
            }
        }
        let slot = Arc::new(Slot::new(false));
        slots.push(slot.clone());
        slot
    }

    /// Calls `f` with every slot, under the lock a thread takes to add its own.
    pub(crate) fn with_slots<R>(&self, f: impl FnOnce(&[Arc<Slot>]) -> R) -> R {
        f(&self.slots.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn snapshot_slots(&self) -> Vec<Arc<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    #[inline(always)]
    pub(crate) fn record(self: &Arc<Self>, kind: OpKind, latency: Duration) {
        self.record_nanos(kind, u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    #[inline(always)]
    pub(crate) fn record_nanos(self: &Arc<Self>, kind: OpKind, nanos: u64) {
        let (slot, shared) = self.local_slot();
        self.record_in(slot, shared, kind, nanos);
    }

    /// This thread's slot, or the shared fallback slot once the thread's local storage is torn
    /// down, and which of the two (so the caller's branch needs no load). Small enough to inline
    /// into every recording call, which then makes no call at all.
    #[inline(always)]
    fn local_slot(self: &Arc<Self>) -> (&Slot, bool) {
        let found = LOCAL.try_with(|local| {
            let (id, ptr) = local.last.get();
            if id == self.id {
                ptr
            } else {
                local.slot_for(self)
            }
        });
        match found {
            // SAFETY: the pointer is into an `Arc<Slot>` that this thread's `LOCAL.slots` keeps
            // alive until the thread-local is destroyed, which cannot happen during this call on
            // this thread; `Recorders` outlives the borrow through `self`.
            Ok(ptr) => (unsafe { &*ptr }, false),
            Err(_) => (&self.fallback, true),
        }
    }

    #[inline(always)]
    fn record_in(&self, slot: &Slot, shared: bool, kind: OpKind, nanos: u64) {
        let Some(lock) = slot.kinds.get(kind.0 as usize) else {
            return;
        };
        let cells = self.kind_cells(lock, shared);
        if shared {
            cells.count.fetch_add(1, Ordering::Relaxed);
            cells.sum.fetch_add(nanos, Ordering::Relaxed);
            cells.max.fetch_max(nanos, Ordering::Relaxed);
            let value = self.clamp(cells, nanos, true);
            cells.hist[self.layout.index(value)].fetch_add(1, Ordering::Relaxed);
            return;
        }
        bump(&cells.count, 1);
        bump(&cells.sum, nanos);
        if nanos > cells.max.load(Ordering::Relaxed) {
            cells.max.store(nanos, Ordering::Relaxed);
        }
        let every = self.sample_every.load(Ordering::Relaxed);
        if every > 1 {
            let left = cells.countdown.load(Ordering::Relaxed);
            if left > 1 {
                cells.countdown.store(left - 1, Ordering::Relaxed);
                return;
            }
            cells.countdown.store(u64::from(every), Ordering::Relaxed);
        }
        let index = self.layout.index(self.clamp(cells, nanos, false));
        // The flag tells the collector a sample may be on its way into the cells
        // (`KindCells::stop_dense`); its barrier on every thread stands in for a fence here.
        cells.writing.store(true, Ordering::Relaxed);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        if cells.dense.load(Ordering::Relaxed) || !cells.keep(index as u32) {
            bump(&cells.hist[index], 1);
        }
        cells.writing.store(false, Ordering::Release);
    }

    #[inline(always)]
    fn kind_cells<'a>(&self, lock: &'a OnceLock<Box<KindCells>>, shared: bool) -> &'a KindCells {
        match lock.get() {
            Some(cells) => cells,
            None => self.init_kind(lock, shared),
        }
    }

    #[cold]
    #[inline(never)]
    fn init_kind<'a>(&self, lock: &'a OnceLock<Box<KindCells>>, shared: bool) -> &'a KindCells {
        lock.get_or_init(|| Box::new(KindCells::new(&self.layout, shared)))
    }

    #[inline(always)]
    fn clamp(&self, cells: &KindCells, nanos: u64, shared: bool) -> u64 {
        if nanos == 0 || nanos > self.layout.high {
            if shared {
                cells.clamped.fetch_add(1, Ordering::Relaxed);
            } else {
                bump(&cells.clamped, 1);
            }
            return nanos.min(self.layout.high);
        }
        nanos
    }

    /// The key of counter `index` in each thread's cache of counter cells: unique to this monitor
    /// and counter, never 0 (the empty way), its top bits the way it takes. A refused counter
    /// (`index` past the last cell) gets a key that is never cached.
    pub(crate) fn counter_key(&self, index: usize) -> u64 {
        if index >= MAX_COUNTERS {
            return u64::MAX;
        }
        // Ids start at 1, so the number is at least `MAX_COUNTERS`; multiplying by an odd
        // constant is one-to-one, so keys stay unique and non-zero, and it spreads their top bits.
        (self.id * MAX_COUNTERS as u64 + index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Adds `n` to counter `index` (whose key is `key`) in this thread's cells: its cell is found
    /// in the thread's cache of counter cells, else through the thread's slot.
    #[inline(always)]
    pub(crate) fn increment(self: &Arc<Self>, index: usize, key: u64, n: u64) {
        let (cached, cell) = COUNTER_CELLS
            .try_with(|ways| ways[way_of(key)].get())
            .unwrap_or((0, std::ptr::null()));
        if cached == key {
            // SAFETY: a way is filled only with a cell of this thread's own slot (never the shared
            // fallback), which this thread's `LOCAL.slots` keep alive; `LocalSlots::drop` empties
            // every way before it lets them go, and a way emptied or torn down never matches a key
            // (keys are never 0). Only this thread writes its own cells.
            bump(unsafe { &*cell }, n);
        } else {
            self.increment_uncached(index, key, n);
        }
    }

    #[cold]
    #[inline(never)]
    fn increment_uncached(self: &Arc<Self>, index: usize, key: u64, n: u64) {
        if index >= MAX_COUNTERS {
            // A refused counter: nothing to add to, and no slot to claim for it.
            return;
        }
        let (slot, shared) = self.local_slot();
        let cell = &slot.counters()[index];
        if shared {
            cell.fetch_add(n, Ordering::Relaxed);
        } else {
            bump(cell, n);
            let _ = COUNTER_CELLS
                .try_with(|ways| ways[way_of(key)].set((key, cell as *const AtomicU64)));
        }
    }

    /// Counter `index` summed over every thread's cells.
    pub(crate) fn counter_total(slots: &[Arc<Slot>], index: usize) -> u64 {
        slots
            .iter()
            .filter_map(|s| s.counters.get())
            .map(|c| c[index].load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }

    /// Sets gauge `index` to `value`.
    #[inline]
    pub(crate) fn set_gauge(&self, index: usize, value: f64) {
        if let Some(cell) = self.gauges.get(index) {
            cell.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    /// Adds `delta` to gauge `index` (a compare-and-swap loop: writers on other threads may race).
    #[inline]
    pub(crate) fn add_gauge(&self, index: usize, delta: f64) {
        if let Some(cell) = self.gauges.get(index) {
            let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + delta).to_bits())
            });
        }
    }

    /// Gauge `index`'s value.
    pub(crate) fn gauge(&self, index: usize) -> f64 {
        self.gauges
            .get(index)
            .map_or(0.0, |c| f64::from_bits(c.load(Ordering::Relaxed)))
    }

    pub(crate) fn record_error(self: &Arc<Self>, kind: OpKind) {
        let (slot, shared) = self.local_slot();
        if let Some(lock) = slot.kinds.get(kind.0 as usize) {
            let errors = &self.kind_cells(lock, shared).errors;
            if shared {
                errors.fetch_add(1, Ordering::Relaxed);
            } else {
                bump(errors, 1);
            }
        }
    }
}

/// This thread's slots, one per monitor it has recorded into, sorted by the monitor's id.
struct LocalSlots {
    last: Cell<(u64, *const Slot)>,
    slots: RefCell<Vec<(u64, Arc<Slot>)>>,
}

impl LocalSlots {
    #[cold]
    #[inline(never)]
    fn slot_for(&self, recorders: &Arc<Recorders>) -> *const Slot {
        let mut slots = self.slots.borrow_mut();
        // Sorted by monitor: a thread that records into many monitors in turn finds each slot by
        // binary search.
        let ptr = match slots.binary_search_by_key(&recorders.id, |(id, _)| *id) {
            Ok(at) => Arc::as_ptr(&slots[at].1),
            Err(at) => {
                let slot = recorders.claim_slot();
                let ptr = Arc::as_ptr(&slot);
                slots.insert(at, (recorders.id, slot));
                ptr
            }
        };
        self.last.set((recorders.id, ptr));
        // `slots` holds a clone of this `Arc` for the life of the thread-local.
        ptr
    }
}

impl Drop for LocalSlots {
    fn drop(&mut self) {
        // The cached cells belong to these slots: once a slot is freed, another thread may own it.
        let _ = COUNTER_CELLS.try_with(|ways| {
            for way in ways {
                way.set((0, std::ptr::null()));
            }
        });
        for (_, slot) in self.slots.get_mut().drain(..) {
            slot.free.store(true, Ordering::Release);
        }
    }
}

/// Ways of the per-thread cache of counter cells.
const COUNTER_WAYS: usize = 8;

/// The way of the cache a counter's key takes: its top bits.
#[inline(always)]
fn way_of(key: u64) -> usize {
    (key >> (64 - COUNTER_WAYS.trailing_zeros())) as usize
}

thread_local! {
    /// The counter cells this thread incremented last, as (counter key, cell), by way; key 0 is
    /// an empty way. A counter's increment finds its cell here with one compare, and the address
    /// loaded from here lets the CPU forward a cell's last store to its next load; an address
    /// computed from the slot and the counter's index did not (2.1 ns against 0.6 ns for one
    /// counter incremented in a loop). No destructor: where thread-locals are native it stays
    /// readable while `LOCAL` is torn down; elsewhere a torn-down cache reads as empty.
    static COUNTER_CELLS: [Cell<(u64, *const AtomicU64)>; COUNTER_WAYS] =
        const { [const { Cell::new((0, std::ptr::null())) }; COUNTER_WAYS] };
}

thread_local! {
    static LOCAL: LocalSlots = const {
        LocalSlots {
            last: Cell::new((0, std::ptr::null())),
            slots: RefCell::new(Vec::new()),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdrhistogram_buckets_over_the_whole_range() {
        for (low, high, sigfig) in [
            (1_000, 60_000_000_000, 3),
            (1, 3_600_000_000_000, 2),
            (1_000, 1_000_000, 5),
        ] {
            let layout = Layout::new(low, high, sigfig).unwrap();
            let hist = layout.histogram();
            assert_eq!(layout.len(), hist.distinct_values());
            let mut v = 0u64;
            while v <= high {
                let i = layout.index(v);
                assert!(i < layout.len(), "{v} -> {i}");
                assert_eq!(
                    layout.value(i),
                    hist.lowest_equivalent(v),
                    "value {v} (layout {low}..{high}@{sigfig})"
                );
                v = v + 1 + v / 997;
            }
            assert!(layout.index(high) < layout.len());
        }
    }

    #[test]
    fn counters_sharing_a_way_of_the_cell_cache_stay_exact() {
        use crate::monitor::{MonitorStore, MonitoringConfig};
        // 3 monitors x 20 counters: more counters than ways, so they evict each other's cells.
        let stores: Vec<_> = (0..3)
            .map(|m| MonitorStore::new(format!("m{m}"), &MonitoringConfig::default()).unwrap())
            .collect();
        let counters: Vec<_> = stores
            .iter()
            .flat_map(|s| (0..20).map(move |c| s.recorder().counter(&format!("c{c}"))))
            .collect();
        std::thread::scope(|scope| {
            for t in 0..3u64 {
                let counters = &counters;
                scope.spawn(move || {
                    for round in 0..50u64 {
                        for (i, c) in counters.iter().enumerate() {
                            c.increment((i as u64 + round + t) % 3 + 1);
                        }
                    }
                });
            }
        });
        // A thread that starts after those ended may take over a freed slot (if their locals are
        // torn down by then), its counts as they are.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for c in &counters {
                    c.increment(1);
                }
            });
        });
        for (i, c) in counters.iter().enumerate() {
            let expected: u64 = (0..3u64)
                .flat_map(|t| (0..50u64).map(move |round| (i as u64 + round + t) % 3 + 1))
                .sum::<u64>()
                + 1;
            assert_eq!(c.value(), expected, "counter {i}");
        }
    }

    #[test]
    fn a_counter_incremented_while_the_thread_tears_down_still_counts() {
        use crate::monitor::{Counter, MonitorStore, MonitoringConfig};
        struct AtExit(Option<Counter>);
        impl Drop for AtExit {
            fn drop(&mut self) {
                if let Some(c) = self.0.take() {
                    c.increment(5);
                }
            }
        }
        thread_local! {
            static AT_EXIT: std::cell::RefCell<AtExit> = const { std::cell::RefCell::new(AtExit(None)) };
        }
        let store = MonitorStore::new("teardown", &MonitoringConfig::default()).unwrap();
        let counter = store.recorder().counter("events");
        let kept = counter.clone();
        // Joined, not scoped: a join waits for the thread's destructors too.
        std::thread::spawn(move || {
            // Registered before the slots, so (as destructors run here, in reverse) destroyed
            // after them: its increment finds no cached cell and no slot, and lands in the
            // shared one. In either order it counts.
            AT_EXIT.with(|a| a.borrow_mut().0 = Some(kept.clone()));
            kept.increment(1);
        })
        .join()
        .unwrap();
        assert_eq!(counter.value(), 6);
    }

    #[test]
    fn cells_are_not_taken_back_from_an_owner_halfway_through_a_sample() {
        let layout = Layout::new(1_000, 60_000_000_000, 3).unwrap();
        let cells = KindCells::new(&layout, false);
        cells.dense.store(true, Ordering::Relaxed);
        // The owner has set its flag and may have found the cells dense: they stay its own.
        cells.writing.store(true, Ordering::Relaxed);
        assert!(cells.stop_dense().is_none());
        assert!(cells.dense.load(Ordering::Relaxed));
        cells.writing.store(false, Ordering::Relaxed);
        let taken = cells.stop_dense();
        if cfg!(target_os = "linux") {
            assert!(taken.is_some(), "membarrier is offered here");
            assert!(!cells.dense.load(Ordering::Relaxed));
        } else {
            assert!(taken.is_none());
            assert!(cells.dense.load(Ordering::Relaxed));
        }
    }

    #[test]
    fn footprint_of_the_default_layout() {
        // Nanosecond values with a 1 µs floor: 18,432 cells. (1..60e6 in microsecond units would be
        // 17,408 cells, 139,264 bytes.)
        let layout = Layout::new(1_000, 60_000_000_000, 3).unwrap();
        assert_eq!(layout.bytes(), 147_456);
        assert_eq!(Layout::new(1, 60_000_000, 3).unwrap().bytes(), 139_264);
    }
}
