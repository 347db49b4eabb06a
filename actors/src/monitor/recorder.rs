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
//! collections than a ring holds ([`KindCells`]).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::monitor::cells::SpanPages;
use crate::monitor::kind_cells::KindCells;

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

/// Adds `n` to a counter cell that only the calling thread writes, stopping at `u64::MAX`: a
/// counter that wrapped would read as reset.
/// The overflow is a branch to a cold path, not a conditional move: the next increment of the
/// cell does not wait on the comparison.
#[inline(always)]
fn bump_counter(cell: &AtomicU64, n: u64) {
    let (sum, wrapped) = cell.load(Ordering::Relaxed).overflowing_add(n);
    if wrapped {
        saturate(cell);
    } else {
        cell.store(sum, Ordering::Relaxed);
    }
}

#[cold]
#[inline(never)]
fn saturate(cell: &AtomicU64) {
    cell.store(u64::MAX, Ordering::Relaxed);
}

/// One thread's counter cells, allocated on the thread's first increment of any counter.
pub(crate) type CounterCells = [AtomicU64; MAX_COUNTERS];

/// One kind's cells in a slot, made on the kind's first sample: a pointer (8 bytes where a
/// `OnceLock<Box<_>>` takes 16), so a slot without samples of a kind holds only that for it.
pub(crate) struct KindSlot(AtomicPtr<KindCells>);

impl KindSlot {
    fn new() -> Self {
        KindSlot(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// The kind's cells, once made.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&KindCells> {
        // SAFETY: set once, from `Box::into_raw`, and freed only when the slot drops.
        unsafe { self.0.load(Ordering::Acquire).as_ref() }
    }

    /// The kind's cells, made by `make` if no thread has made them yet (the shared slot's
    /// writers may race: one's cells are kept, the others' dropped).
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> KindCells) -> &KindCells {
        if let Some(cells) = self.get() {
            return cells;
        }
        let made = Box::into_raw(Box::new(make()));
        match self.0.compare_exchange(
            std::ptr::null_mut(),
            made,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: just stored, freed only when the slot drops.
            Ok(_) => unsafe { &*made },
            Err(theirs) => {
                // SAFETY: `made` came from `Box::into_raw` above and was not shared.
                drop(unsafe { Box::from_raw(made) });
                // SAFETY: as in `get`.
                unsafe { &*theirs }
            }
        }
    }
}

impl Drop for KindSlot {
    fn drop(&mut self) {
        let cells = *self.0.get_mut();
        if !cells.is_null() {
            // SAFETY: made by `Box::into_raw` in `get_or_init`, and no longer reachable.
            drop(unsafe { Box::from_raw(cells) });
        }
    }
}

/// One thread's cells for one monitor.
pub(crate) struct Slot {
    pub(crate) kinds: [KindSlot; MAX_KINDS],
    /// The pages its kinds' dense cells count on, packed together.
    pub(crate) pages: Arc<SpanPages>,
    pub(crate) counters: OnceLock<Box<CounterCells>>,
    /// Set when the owning thread exits; a new thread may then claim the slot.
    free: AtomicBool,
    /// Whether the writers use `fetch_add` (the shared fallback slot) or owner-only stores.
    pub(crate) shared: bool,
}

impl Slot {
    fn new(shared: bool, layout: &Layout) -> Self {
        Slot {
            kinds: std::array::from_fn(|_| KindSlot::new()),
            pages: Arc::new(SpanPages::new(layout.len())),
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
            + self.pages.resident_bytes()
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
        let fallback = Arc::new(Slot::new(true, &layout));
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
        let slot = Arc::new(Slot::new(false, &self.layout));
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
        let cells = self.kind_cells(slot, lock, shared);
        if shared {
            // The cell before the count: a collector that sees the count sees the sample.
            let value = self.clamp(cells, nanos, true);
            cells.hist[self.layout.index(value)].fetch_add(1, Ordering::Relaxed);
            cells.count.fetch_add(1, Ordering::Release);
            cells.sum.fetch_add(value, Ordering::Relaxed);
            cells.max.fetch_max(value, Ordering::Relaxed);
            return;
        }
        let every = self.sample_every.load(Ordering::Relaxed);
        if every > 1 {
            let left = cells.countdown.load(Ordering::Relaxed);
            if left > 1 {
                // Counted, but not sampled: nothing goes to the ring or the cells.
                cells.countdown.store(left - 1, Ordering::Relaxed);
                Self::count(cells, nanos.min(self.layout.high));
                return;
            }
            cells.countdown.store(u64::from(every), Ordering::Relaxed);
        }
        // The flag tells the collector a sample may be on its way into the ring or the cells:
        // raised before the count moves (released with it), a collector that sees the count
        // sees the flag until the sample is in (`KindCells::stop_dense`, and the collector's
        // `settled`). Its barrier on every thread stands in for a fence before `dense` is read.
        cells.writing.store(true, Ordering::Relaxed);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        // Sum and maximum take the value as the histogram holds it, so a mean never passes the
        // highest value and one absurd sample cannot wrap the sum.
        let value = self.clamp(cells, nanos, false);
        Self::count(cells, value);
        let index = self.layout.index(value);
        if cells.dense.load(Ordering::Relaxed) || !cells.keep(index as u32) {
            cells.count_dense(index);
        }
        cells.writing.store(false, Ordering::Release);
    }

    /// A sample's count (released: what the owner wrote before it is seen with it), sum and
    /// maximum, in a slot only its thread writes.
    #[inline(always)]
    fn count(cells: &KindCells, nanos: u64) {
        cells.count.store(
            cells.count.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
        bump(&cells.sum, nanos);
        if nanos > cells.max.load(Ordering::Relaxed) {
            cells.max.store(nanos, Ordering::Relaxed);
        }
    }

    #[inline(always)]
    fn kind_cells<'a>(&self, slot: &Slot, lock: &'a KindSlot, shared: bool) -> &'a KindCells {
        match lock.get() {
            Some(cells) => cells,
            None => self.init_kind(slot, lock, shared),
        }
    }

    #[cold]
    #[inline(never)]
    fn init_kind<'a>(&self, slot: &Slot, lock: &'a KindSlot, shared: bool) -> &'a KindCells {
        lock.get_or_init(|| KindCells::new(&self.layout, shared, slot.pages.clone()))
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
            bump_counter(unsafe { &*cell }, n);
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
            let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(c.saturating_add(n))
            });
        } else {
            bump_counter(cell, n);
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
            .fold(0u64, u64::saturating_add)
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
            let errors = &self.kind_cells(slot, lock, shared).errors;
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
    fn footprint_of_the_default_layout() {
        // Nanosecond values with a 1 µs floor: 18,432 cells. (1..60e6 in microsecond units would be
        // 17,408 cells, 139,264 bytes.)
        let layout = Layout::new(1_000, 60_000_000_000, 3).unwrap();
        assert_eq!(layout.bytes(), 147_456);
        assert_eq!(Layout::new(1, 60_000_000, 3).unwrap().bytes(), 139_264);
    }
}
