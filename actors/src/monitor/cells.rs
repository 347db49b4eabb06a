//! [`Cells`]: a run of zeroed counters whose memory becomes resident only where it is written.
//!
//! A thread's histogram for one kind has a cell for every bucket of the monitor's layout (18,432 at
//! the default bounds, 144 KiB), but real latencies touch a few hundred neighbouring buckets. The
//! cells get pages of their own straight from the OS (`mmap`): a page no sample touches is never
//! made resident, and no allocator header shares (and makes resident) the first page. Off Linux,
//! or where mapping fails, the allocator's zeroed memory is used instead.
//!
//! A thread's own dense cells count their samples first in one byte each, on pages its slot keeps
//! for its kinds' bytes ([`SpanPages`]; `KindCells`); these 8-byte cells take what a byte cannot
//! hold, and the shared slot's samples.
//!
//! A run of cells may carry a tail: more cells after it, from a page boundary on, whose pages can
//! be given back to the OS on their own ([`Cells::release_tail`]).

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// Below this many bytes the allocator's zeroed memory is used: a mapping would round up to a page.
#[cfg(target_os = "linux")]
const MAP_FROM_BYTES: usize = 4 * 4096;

/// `len` counters at zero; dereferences to `[AtomicU64]`.
pub(crate) struct Cells {
    ptr: NonNull<AtomicU64>,
    len: usize,
    /// Where the tail starts, in cells from `ptr` (at `len`, or the next page boundary if mapped).
    tail_at: usize,
    /// Cells in the tail.
    tail: usize,
    /// Whether the memory is a mapping of its own (unmapped on drop) rather than a `Box`.
    mapped: bool,
}

// SAFETY: `Cells` owns its memory like a `Box<[AtomicU64]>`, and `AtomicU64` is `Send + Sync`.
unsafe impl Send for Cells {}
// SAFETY: as above; shared access is through `&[AtomicU64]`, or through the unsafe
// `tail_bytes` and `write_tail`, whose callers keep writers away.
unsafe impl Sync for Cells {}

impl Cells {
    /// `len` counters at zero, and a tail of `tail` more ([`Cells::tail`]).
    pub(crate) fn with_tail(len: usize, tail: usize) -> Self {
        let made = |ptr, tail_at, mapped| Cells {
            ptr,
            len,
            tail_at,
            tail,
            mapped,
        };
        #[cfg(target_os = "linux")]
        {
            // Mapped, the tail starts on a page: its pages can be asked about and given back on
            // their own.
            let mapped = tail_at(len, tail, page_size());
            let bytes = (mapped + tail).saturating_mul(std::mem::size_of::<AtomicU64>());
            if bytes >= MAP_FROM_BYTES {
                // All-zero bytes are valid `AtomicU64`s.
                if let Some(ptr) = map(bytes).and_then(|m| NonNull::new(m.cast::<AtomicU64>())) {
                    return made(ptr, mapped, true);
                }
                tracing::debug!(bytes, "mapping histogram cells failed; allocating them");
            }
        }
        // Allocated, the sections follow each other.
        let allocated = tail_at(len, tail, None);
        let boxed = zeroed_box(allocated + tail);
        let ptr =
            NonNull::new(Box::into_raw(boxed).cast::<AtomicU64>()).expect("a Box is never null");
        made(ptr, allocated, false)
    }

    /// The tail's cells.
    pub(crate) fn tail(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is valid for `tail_at + tail` initialised cells for as long as `self`
        // lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(self.tail_at), self.tail) }
    }

    /// The first `len` bytes of the tail (at most its size).
    ///
    /// # Safety
    ///
    /// Nothing may write the tail while the bytes are borrowed.
    pub(crate) unsafe fn tail_bytes(&self, len: usize) -> &[u8] {
        assert!(len <= self.tail * std::mem::size_of::<AtomicU64>());
        // SAFETY: the tail is `tail` initialised cells from `tail_at`, living as long as `self`;
        // the caller keeps writers away while the bytes are borrowed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(self.tail_at).cast(), len) }
    }

    /// Copies `bytes` to the start of the tail; false, copying nothing, when they do not fit.
    ///
    /// # Safety
    ///
    /// Nothing else may read or write the tail during the call.
    pub(crate) unsafe fn write_tail(&self, bytes: &[u8]) -> bool {
        if bytes.len() > self.tail * std::mem::size_of::<AtomicU64>() {
            return false;
        }
        // SAFETY: the destination is within the tail (checked above), which the caller has to
        // itself; the cells are atomics, so writing them through this pointer is allowed.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(self.tail_at).cast::<u8>(),
                bytes.len(),
            );
        }
        true
    }

    /// Zeroes the tail. Mapped, its pages are given back to the OS (they read as zeros and are
    /// resident again only once written).
    ///
    /// # Safety
    ///
    /// Nothing may read or write the tail during the call: giving the pages back is not an atomic
    /// store, and a write made meanwhile may be lost.
    pub(crate) unsafe fn release_tail(&self) {
        // SAFETY: passed on to the caller.
        unsafe { self.discard(self.tail_at..self.reserved(), self.reserved()) }
    }

    /// Zeroes everything: the cells and the tail. Mapped, the pages are given
    /// back to the OS in one call.
    ///
    /// # Safety
    ///
    /// Nothing may read or write any of them during the call, as for [`Cells::release_tail`].
    pub(crate) unsafe fn release_all(&self) {
        // SAFETY: passed on to the caller.
        unsafe { self.discard(0..self.reserved(), self.reserved()) }
    }

    /// Zeroes the cells of `range`: by giving their pages back to the OS where the range starts
    /// on a page and its last page ends by cell `limit` (a page boundary or the mapping's end),
    /// else by storing zeros.
    ///
    /// # Safety
    ///
    /// Nothing may read or write those cells during the call.
    unsafe fn discard(&self, range: std::ops::Range<usize>, limit: usize) {
        if range.is_empty() {
            return;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = limit;
        #[cfg(target_os = "linux")]
        if let (true, Some(page)) = (self.mapped, page_size()) {
            let cell = std::mem::size_of::<AtomicU64>();
            let (from, to) = (range.start * cell, range.end * cell);
            // SAFETY: the pages from `from` are within the mapping and hold only cells of `range`
            // (checked first), which the caller keeps everyone else away from.
            if from % page == 0
                && to.next_multiple_of(page) <= limit * cell
                && unsafe { give_back(self.ptr.as_ptr().add(range.start).cast(), to - from) }
            {
                return;
            }
        }
        for i in range {
            // SAFETY: `i` is below `reserved()`, the cells initialised from `ptr`.
            unsafe { &*self.ptr.as_ptr().add(i) }.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Cells held, the tail's included.
    pub(crate) fn reserved(&self) -> usize {
        self.tail_at + self.tail
    }

    /// For `cells` 8-byte cells of a mapping from cell `from` (on a page boundary): the page
    /// size, and a byte per page whose lowest bit says whether it is resident (`mincore`). `None`
    /// where residency cannot be asked (allocated cells, an unknown page size, or `mincore`
    /// failing).
    fn resident_pages(&self, from: usize, cells: usize) -> Option<(usize, Vec<u8>)> {
        if !self.mapped {
            return None;
        }
        // SAFETY: the mapping starts on a page and sections start on pages, so `from` is the
        // page-aligned start of at least `cells` cells of it.
        unsafe {
            resident_pages(
                self.ptr.as_ptr().add(from).cast(),
                cells * std::mem::size_of::<AtomicU64>(),
            )
        }
    }

    /// Bytes of the cells and the tail in memory: the resident pages of a mapping, or every byte
    /// where residency cannot be asked.
    pub(crate) fn resident_bytes(&self) -> usize {
        match self.resident_page_count(0, self.reserved()) {
            Some((page, resident)) => resident * page,
            None => self.reserved() * std::mem::size_of::<AtomicU64>(),
        }
    }

    /// Resident pages of the tail, where residency can be asked.
    #[cfg(test)]
    pub(crate) fn resident_tail_pages(&self) -> Option<usize> {
        Some(self.resident_page_count(self.tail_at, self.tail)?.1)
    }

    /// The page size and how many pages of `cells` 8-byte cells from cell `from` are resident,
    /// where residency can be asked ([`Cells::resident_pages`]).
    fn resident_page_count(&self, from: usize, cells: usize) -> Option<(usize, usize)> {
        let (page, resident) = self.resident_pages(from, cells)?;
        Some((page, resident.iter().filter(|p| *p & 1 != 0).count()))
    }

    /// Calls `f` with each run of cells on resident pages, in order, as (index of the run's first
    /// cell, its cells). A page that is not resident was never written (it holds only zeros) or
    /// was swapped out; reading a never-written page would cost a page fault and map it (to the
    /// kernel's zero page). Where residency cannot be asked, every cell is one run.
    pub(crate) fn resident_runs(&self, mut f: impl FnMut(usize, &[AtomicU64])) {
        let Some((page, resident)) = self.resident_pages(0, self.len) else {
            f(0, self);
            return;
        };
        let per_page = page / std::mem::size_of::<AtomicU64>();
        let mut first = 0;
        for pages in resident.chunk_by(|a, b| a & 1 == b & 1) {
            if pages[0] & 1 != 0 {
                let from = (first * per_page).min(self.len);
                let to = ((first + pages.len()) * per_page).min(self.len);
                if from < to {
                    f(from, &self[from..to]);
                }
            }
            first += pages.len();
        }
    }
}

/// Where the tail starts, in 8-byte cells: from a page boundary when `page` is given.
fn tail_at(len: usize, tail: usize, page: Option<usize>) -> usize {
    let cell = std::mem::size_of::<AtomicU64>();
    match page {
        Some(page) if tail > 0 => (len * cell).next_multiple_of(page) / cell,
        _ => len,
    }
}

/// Pages for the bytes of one slot's dense cells: each kind's, while dense, packed after the
/// others' ([`SpanPages::take`]), and the pages given back to the OS once the last is let go
/// ([`SpanPages::let_go`]). Packed, the kinds of a slot share pages: a kind whose latencies span
/// 5,951 cells holds their bytes (6,079 with its margin), not the two pages they would take alone. Mapped on first use, in
/// an address range of its own (4 bytes a layout cell, untouched pages never resident); where
/// mapping fails, or the range is full, a kind's bytes come from the heap instead.
pub(crate) struct SpanPages {
    /// Bytes of address space.
    capacity: usize,
    state: std::sync::Mutex<Packed>,
}

/// Where the next bytes go, and how many kinds hold some.
struct Packed {
    /// The mapping, null until first used (or where mapping failed).
    base: *mut u8,
    /// Whether mapping failed: not tried again, the heap holds every kind's bytes.
    unmapped: bool,
    /// Bytes handed out since the pages were last given back: the rest are zeros never written.
    used: usize,
    /// Kinds holding bytes.
    live: usize,
}

// SAFETY: `base` is a mapping owned by the `SpanPages`, used only under its lock or through the
// bytes handed out, which are `AtomicU8`s.
unsafe impl Send for Packed {}

impl SpanPages {
    /// Room for the bytes of layouts of `len` cells: four kinds' spanning every cell.
    pub(crate) fn new(len: usize) -> Self {
        SpanPages {
            capacity: 4 * len,
            state: std::sync::Mutex::new(Packed {
                base: std::ptr::null_mut(),
                unmapped: false,
                used: 0,
                live: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Packed> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `len` zeroed bytes on these pages, or `None` where there is no room (or no mapping): then
    /// the caller takes them from the heap.
    pub(crate) fn take(&self, len: usize) -> Option<NonNull<std::sync::atomic::AtomicU8>> {
        let mut packed = self.lock();
        if packed.base.is_null() {
            if packed.unmapped {
                return None;
            }
            let Some(base) = map(self.capacity) else {
                tracing::debug!(
                    bytes = self.capacity,
                    "mapping dense cells' pages failed; the heap holds them"
                );
                packed.unmapped = true;
                return None;
            };
            packed.base = base;
        }
        if packed.used + len > self.capacity {
            return None;
        }
        // SAFETY: within the mapping of `capacity` bytes (checked above).
        let bytes = unsafe { packed.base.add(packed.used) };
        packed.used += len;
        packed.live += 1;
        NonNull::new(bytes.cast())
    }

    /// Lets go of bytes [`SpanPages::take`] gave; once no kind holds any, the pages go back to
    /// the OS (zeros again), and the next bytes are taken from the start.
    ///
    /// # Safety
    ///
    /// The bytes must come from this `take`, and no one may use them after.
    pub(crate) unsafe fn let_go(&self) {
        let mut packed = self.lock();
        packed.live -= 1;
        if packed.live > 0 {
            return;
        }
        let used = std::mem::take(&mut packed.used);
        // SAFETY: the first `used` bytes of the mapping, from its start, which no kind holds any
        // more.
        if !unsafe { give_back(packed.base, used) } {
            // SAFETY: as above; the next bytes taken must read zero.
            unsafe { std::ptr::write_bytes(packed.base, 0, used) };
        }
    }

    /// Bytes on resident pages (every byte handed out where residency cannot be asked).
    pub(crate) fn resident_bytes(&self) -> usize {
        let packed = self.lock();
        if packed.base.is_null() {
            return 0;
        }
        // SAFETY: the mapping of `capacity` bytes, from a page boundary.
        match unsafe { resident_pages(packed.base, self.capacity) } {
            Some((page, resident)) => resident.iter().filter(|p| *p & 1 != 0).count() * page,
            None => packed.used,
        }
    }
}

impl Drop for SpanPages {
    fn drop(&mut self) {
        let base = self.lock().base;
        if !base.is_null() {
            #[cfg(target_os = "linux")]
            // SAFETY: the mapping `map` made, of `capacity` bytes, no longer used.
            if unsafe { libc::munmap(base.cast(), self.capacity) } != 0 {
                tracing::warn!(
                    bytes = self.capacity,
                    error = %std::io::Error::last_os_error(),
                    "unmapping dense cells' pages failed"
                );
            }
        }
    }
}

/// The page size and a byte per page of the `bytes` bytes from `from` whose lowest bit says
/// whether the page is resident (`mincore`); `None` where that cannot be asked (an unknown page
/// size, or `mincore` failing, which is logged).
///
/// # Safety
///
/// `from` must be the page-aligned start of at least `bytes` bytes of a mapping.
unsafe fn resident_pages(from: *const u8, bytes: usize) -> Option<(usize, Vec<u8>)> {
    #[cfg(target_os = "linux")]
    if let Some(page) = page_size() {
        let mut resident = vec![0u8; bytes.div_ceil(page)];
        // SAFETY: as the caller promises; `resident` has a byte for each page.
        if unsafe { libc::mincore(from.cast_mut().cast(), bytes, resident.as_mut_ptr()) } == 0 {
            return Some((page, resident));
        }
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "asking which histogram pages are resident failed"
        );
    }
    let _ = (from, bytes);
    None
}

/// Gives the pages of the `bytes` bytes from `from` back to the OS (`MADV_DONTNEED`), zeros again
/// when next touched; false where that is refused, and the caller zeroes them itself.
///
/// # Safety
///
/// `from` must be the page-aligned start of at least `bytes` bytes of a mapping (the last page
/// whole), which no one uses during the call.
unsafe fn give_back(from: *mut u8, bytes: usize) -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: as the caller promises.
    return unsafe { libc::madvise(from.cast(), bytes, libc::MADV_DONTNEED) } == 0;
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, bytes);
        false
    }
}

/// An anonymous mapping of `bytes` zeroed bytes on small pages (`None` where it cannot be made):
/// a huge page would make 2 MiB resident for one sample, and the collector finds the written
/// cells by the pages that are resident.
fn map(bytes: usize) -> Option<*mut u8> {
    #[cfg(target_os = "linux")]
    if bytes > 0 {
        // SAFETY: an anonymous private mapping of `bytes` readable and writable bytes, which the
        // kernel fills with zeros on first touch.
        let memory = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if memory != libc::MAP_FAILED {
            // Advice refused leaves the mapping as it is.
            // SAFETY: advice on the mapping just made, of its own length.
            unsafe { libc::madvise(memory, bytes, libc::MADV_NOHUGEPAGE) };
            return Some(memory.cast());
        }
    }
    let _ = bytes;
    None
}

/// A memory barrier run on every thread of the process that is on a CPU now (the others run one
/// when they are next scheduled), by `membarrier(2)`: a writer that only keeps the compiler from
/// moving its store past its load pairs with it as if both sides had a full fence. False, having
/// done nothing, where the OS does not offer it; the caller must then assume a writer it cannot
/// see.
pub(crate) fn fence_every_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // From `linux/membarrier.h`.
        const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
        static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let registered = *REGISTERED.get_or_init(|| {
            // SAFETY: `membarrier` with a command and zero flags has no memory arguments.
            let done =
                unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0, 0) };
            if done != 0 {
                tracing::debug!(
                    error = %std::io::Error::last_os_error(),
                    "membarrier refused: threads keep their dense histogram cells"
                );
            }
            done == 0
        });
        // SAFETY: as above.
        registered && unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0, 0) } == 0
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// The size of a page, asked of the OS once; `None` if it would not say (then every cell is read).
#[cfg(target_os = "linux")]
fn page_size() -> Option<usize> {
    static PAGE: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: `sysconf` with a valid name has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|s| *s >= std::mem::size_of::<AtomicU64>() && s.is_power_of_two())
    })
}

impl Deref for Cells {
    type Target = [AtomicU64];

    #[inline(always)]
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is valid for `len` initialised cells for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Cells {
    fn drop(&mut self) {
        if self.mapped {
            #[cfg(target_os = "linux")]
            // SAFETY: the mapping was made in `with_tail` with this address and length and is not
            // used after this.
            unsafe {
                let bytes = self.reserved() * std::mem::size_of::<AtomicU64>();
                if libc::munmap(self.ptr.as_ptr().cast(), bytes) != 0 {
                    // Splitting a merged mapping can fail near the process's limit of mappings:
                    // the pages stay mapped (and resident where touched).
                    tracing::warn!(
                        bytes,
                        error = %std::io::Error::last_os_error(),
                        "unmapping histogram cells failed"
                    );
                }
            }
        } else {
            // SAFETY: made by `Box::into_raw` of a boxed slice of `len + tail` cells in
            // `with_tail`.
            drop(unsafe {
                Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                    self.ptr.as_ptr(),
                    self.reserved(),
                ))
            });
        }
    }
}

/// `len` cells at zero, zeroed by the allocator.
fn zeroed_box(len: usize) -> Box<[AtomicU64]> {
    if len == 0 {
        return Box::new([]);
    }
    let Ok(memory) = std::alloc::Layout::array::<AtomicU64>(len) else {
        // More cells than memory can hold: a layout never gives this many.
        return (0..len).map(|_| AtomicU64::new(0)).collect();
    };
    // SAFETY: `memory` has a non-zero size; the global allocator's zeroed block is `len` valid
    // `AtomicU64`s (all-zero bytes are zero), allocated with the layout `Box` frees it with.
    unsafe {
        let cells = std::alloc::alloc_zeroed(memory).cast::<AtomicU64>();
        if cells.is_null() {
            std::alloc::handle_alloc_error(memory);
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(cells, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// The cells `resident_runs` hands out, with their indices.
    fn runs(cells: &Cells) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        cells.resident_runs(|from, run| out.push((from, run.len())));
        out
    }

    #[test]
    fn resident_runs_cover_every_written_cell_and_skip_untouched_pages() {
        let cells = Cells::with_tail(18_432, 0);
        for i in [5_000, 5_001, 17_000] {
            cells[i].fetch_add(1, Ordering::Relaxed);
        }
        let mut seen = Vec::new();
        cells.resident_runs(|from, run| {
            for (i, c) in run.iter().enumerate() {
                if c.load(Ordering::Relaxed) != 0 {
                    seen.push(from + i);
                }
            }
        });
        assert_eq!(seen, vec![5_000, 5_001, 17_000]);
        let read: usize = runs(&cells).iter().map(|r| r.1).sum();
        if cfg!(target_os = "linux") {
            // Two pages written (512 cells each): the rest is not read, and stays unmapped.
            assert_eq!(read, 1_024, "{:?}", runs(&cells));
            assert_eq!(runs(&cells).len(), 2);
        } else {
            assert_eq!(read, 18_432);
        }
        // Small cells come from the allocator and are read whole.
        let small = Cells::with_tail(100, 0);
        assert_eq!(runs(&small), vec![(0, 100)]);
    }

    #[test]
    fn cells_start_at_zero_and_keep_what_is_written() {
        for len in [0, 1, 100, 18_432] {
            let cells = Cells::with_tail(len, 0);
            assert_eq!(cells.len(), len);
            assert!(cells.iter().all(|c| c.load(Ordering::Relaxed) == 0));
            if len > 0 {
                cells[len - 1].store(7, Ordering::Relaxed);
                cells[len - 1].fetch_add(3, Ordering::Relaxed);
                assert_eq!(cells[len - 1].load(Ordering::Relaxed), 10);
                assert_eq!(
                    cells[0].load(Ordering::Relaxed),
                    if len == 1 { 10 } else { 0 }
                );
            }
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn span_pages_pack_bytes_and_give_them_back_once_none_are_held() {
        let pages = SpanPages::new(4_096);
        // Four layout cells a byte of room: 16,384 bytes.
        let first = pages.take(6_000).expect("room");
        let second = pages.take(6_000).expect("room");
        // SAFETY: both came from `take`, 6,000 bytes each, and are used only here.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(first.as_ptr(), 6_000),
                std::slice::from_raw_parts(second.as_ptr(), 6_000),
            )
        };
        // Packed one after the other, zeroed.
        assert_eq!(second.as_ptr() as usize - first.as_ptr() as usize, 6_000);
        assert!(a.iter().chain(b).all(|x| x.load(Ordering::Relaxed) == 0));
        for x in a.iter().chain(b) {
            x.store(7, Ordering::Relaxed);
        }
        assert!(
            pages.take(6_000).is_none(),
            "no room left: the heap takes them"
        );
        assert_eq!(pages.resident_bytes(), 3 * 4_096);
        // One let go: the other still holds its bytes, which stay as written.
        // SAFETY: taken above, no longer used.
        unsafe { pages.let_go() };
        assert!(b.iter().all(|x| x.load(Ordering::Relaxed) == 7));
        assert!(
            pages.take(6_000).is_none(),
            "bytes are not reused while any are held"
        );
        // SAFETY: as above.
        unsafe { pages.let_go() };
        // None held: the pages are given back, and the next bytes start over, zeroed.
        assert_eq!(pages.resident_bytes(), 0);
        let again = pages.take(6_000).expect("room again");
        assert_eq!(again, first);
        // SAFETY: as above.
        let c = unsafe { std::slice::from_raw_parts(again.as_ptr(), 6_000) };
        assert!(c.iter().all(|x| x.load(Ordering::Relaxed) == 0));
        // SAFETY: as above.
        unsafe { pages.let_go() };
    }

    #[test]
    fn a_tail_is_apart_from_the_cells_and_released_to_zeros() {
        for (len, tail) in [(18_432, 1_024), (100, 16), (1_000, 1_024)] {
            let cells = Cells::with_tail(len, tail);
            assert_eq!((cells.len(), cells.tail().len()), (len, tail));
            cells[len - 1].store(5, Ordering::Relaxed);
            for (i, c) in cells.tail().iter().enumerate() {
                c.store(i as u64 + 1, Ordering::Relaxed);
            }
            // The cells' resident runs never reach into the tail.
            let read: usize = runs(&cells).iter().map(|r| r.0 + r.1).max().unwrap();
            assert!(read <= len);
            // SAFETY: nothing else uses these cells.
            unsafe { cells.release_tail() };
            assert!(cells.tail().iter().all(|c| c.load(Ordering::Relaxed) == 0));
            assert_eq!(cells[len - 1].load(Ordering::Relaxed), 5);
            cells.tail()[tail - 1].store(9, Ordering::Relaxed);
            assert_eq!(cells.tail()[tail - 1].load(Ordering::Relaxed), 9);
            // Everything goes back at once; mapped, the pages leave memory.
            cells[0].store(3, Ordering::Relaxed);
            let in_memory = cells.resident_bytes();
            // SAFETY: as above.
            unsafe { cells.release_all() };
            if cfg!(target_os = "linux") && len * 8 >= 4 * 4096 {
                assert!(cells.resident_bytes() < in_memory, "{len} cells");
                assert!(runs(&cells).is_empty(), "{len} cells");
            }
            // (Read, a page given back maps the kernel's zero page: checked after the above.)
            assert!(cells.iter().all(|c| c.load(Ordering::Relaxed) == 0));
            assert_eq!(cells.tail()[tail - 1].load(Ordering::Relaxed), 0);
        }
    }
}
