//! [`CellCounts`]: histogram cells by index with their counts, packed small. The collector keeps
//! its last reading of each recording thread's cells this way (the cells it saw non-zero, with
//! their counts then), and each interval of a monitor's window its samples per cell.
//!
//! As a list of `(u32, u64)` each cell cost 16 bytes, twice a cell itself. Here each is one or
//! two LEB128 integers: the gap since the previous cell's index, doubled, plus one when the count
//! follows; a count of one (most cells of a second's interval) is not written. A cell holding one
//! sample within 63 cells of the last takes 1 byte; one holding fewer than 128, 2 bytes.
//!
//! Lists are merged as they are written ([`Merging`]): the collector merges each thread's changes,
//! and the cell indices it took out of rings and overflows ([`merge_indices`]), into one list per
//! kind.

/// Cells in increasing index order, with their counts.
#[derive(Clone, Debug, Default)]
pub(super) struct CellCounts {
    bytes: Vec<u8>,
}

impl CellCounts {
    /// No cell.
    pub(super) const EMPTY: CellCounts = CellCounts { bytes: Vec::new() };

    /// The cells in index order.
    pub(super) fn iter(&self) -> Iter<'_> {
        iter(&self.bytes)
    }

    /// The cells packed, as [`Writer::bytes`] gave them.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Cells packed by a [`Writer`], in an allocation of their size.
    pub(super) fn from_bytes(bytes: &[u8]) -> Self {
        CellCounts {
            bytes: bytes.to_vec(),
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Bytes encoded.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds no cell.
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Builds a [`CellCounts`] from cells pushed in increasing index order.
pub(super) struct Writer {
    bytes: Vec<u8>,
    next: u32,
}

impl Writer {
    /// A writer into `buffer`, emptied first (its allocation is kept).
    pub(super) fn reusing(mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        Writer {
            bytes: buffer,
            next: 0,
        }
    }

    /// The cells pushed so far, packed.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The buffer, to be reused.
    pub(super) fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }

    /// Adds cell `index` with `count`; `index` is above every index pushed before.
    #[inline(always)]
    pub(super) fn push(&mut self, index: u32, count: u64) {
        debug_assert!(index >= self.next, "cells are pushed in increasing order");
        // A gap fits 32 bits, so doubled it fits 64.
        let gap = u64::from(index.saturating_sub(self.next)) << 1;
        self.next = index.saturating_add(1);
        if gap < 0x80 {
            // The common cases: one sample (an interval's cells), a small count (a reading's).
            if count == 1 {
                self.bytes.push(gap as u8);
                return;
            }
            if count < 0x80 {
                self.bytes.extend_from_slice(&[gap as u8 | 1, count as u8]);
                return;
            }
        }
        self.push_wide(gap, count);
    }

    #[inline(never)]
    fn push_wide(&mut self, gap: u64, count: u64) {
        if count == 1 {
            put(&mut self.bytes, gap);
        } else {
            put(&mut self.bytes, gap | 1);
            put(&mut self.bytes, count);
        }
    }

    /// The cells pushed, holding no spare capacity.
    #[cfg(test)]
    pub(super) fn finish(mut self) -> CellCounts {
        self.bytes.shrink_to_fit();
        CellCounts { bytes: self.bytes }
    }
}

/// The cells packed in `bytes` (by a [`Writer`]), as `(index, count)`.
pub(super) fn iter(bytes: &[u8]) -> Iter<'_> {
    Iter { bytes, next: 0 }
}

/// Packed cells read in step with another walk in cell order: the next cell is looked at before
/// it is taken. (`Peekable::next_if` does the same, but is not inlined into the collector's
/// loops with this iterator's decoding, and costs a call a cell there.)
pub(super) struct Cursor<'a> {
    cells: Iter<'a>,
    ahead: Option<(u32, u64)>,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        let mut cells = iter(bytes);
        let ahead = cells.next();
        Cursor { cells, ahead }
    }

    /// Takes the next cell if its index is below `index`.
    #[inline(always)]
    pub(super) fn take_below(&mut self, index: u32) -> Option<(u32, u64)> {
        match self.ahead {
            Some(cell) if cell.0 < index => {
                self.ahead = self.cells.next();
                Some(cell)
            }
            _ => None,
        }
    }

    /// Takes the next cell's count if it is cell `index`.
    #[inline(always)]
    pub(super) fn take_at(&mut self, index: u32) -> Option<u64> {
        match self.ahead {
            Some((i, n)) if i == index => {
                self.ahead = self.cells.next();
                Some(n)
            }
            _ => None,
        }
    }

    /// Takes every cell left.
    pub(super) fn rest(self) -> impl Iterator<Item = (u32, u64)> + 'a {
        self.ahead.into_iter().chain(self.cells)
    }
}

/// The cells of a [`CellCounts`], as `(index, count)`.
#[derive(Clone)]
pub(super) struct Iter<'a> {
    bytes: &'a [u8],
    next: u32,
}

impl Iterator for Iter<'_> {
    type Item = (u32, u64);

    #[inline]
    fn next(&mut self) -> Option<(u32, u64)> {
        let (gap, count) = match *self.bytes {
            // The common cases: one sample, or a one-byte count, close to the last cell.
            [gap, ref rest @ ..] if gap & 0x81 == 0 => {
                self.bytes = rest;
                (u64::from(gap >> 1), 1)
            }
            [gap, count, ref rest @ ..] if (gap | count) < 0x80 => {
                self.bytes = rest;
                (u64::from(gap >> 1), u64::from(count))
            }
            _ => {
                let gap = take(&mut self.bytes)?;
                let count = if gap & 1 == 1 {
                    take(&mut self.bytes)?
                } else {
                    1
                };
                (gap >> 1, count)
            }
        };
        // Gaps were made from `u32` indices, so the sum fits.
        let index = self.next.wrapping_add(gap as u32);
        self.next = index.wrapping_add(1);
        Some((index, count))
    }
}

/// Appends `v` as LEB128: 7 bits a byte, low bits first, the top bit set on every byte but the last.
fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Takes one LEB128 integer off the front of `bytes`; `None` at the end.
#[inline]
fn take(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            // Never written by `put`; ends the reading rather than panicking.
            return None;
        }
    }
}

/// Cells pushed in cell order (each once) merged, as they come, with a packed list of cells (a
/// reading's format) into another.
pub(super) struct Merging<'a> {
    into: Writer,
    rest: Cursor<'a>,
}

impl<'a> Merging<'a> {
    /// Merges the cells of `list` and those pushed into `buffer` (emptied first).
    pub(super) fn new(list: &'a [u8], mut buffer: Vec<u8>) -> Self {
        // Room for the list and some more at once: a buffer grown step by step leaves the steps
        // behind as holes in the heap.
        buffer.clear();
        buffer.reserve(list.len() + list.len() / 8 + 256);
        Merging {
            into: Writer::reusing(buffer),
            rest: Cursor::new(list),
        }
    }

    /// Adds `n` samples of cell `index`, above every cell pushed before.
    pub(super) fn push(&mut self, index: u32, n: u64) {
        while let Some((j, m)) = self.rest.take_below(index) {
            self.into.push(j, m);
        }
        let more = self.rest.take_at(index).unwrap_or(0);
        self.into.push(index, n.wrapping_add(more));
    }

    /// The merged list, packed.
    pub(super) fn finish(mut self) -> Vec<u8> {
        for (j, m) in self.rest.rest() {
            self.into.push(j, m);
        }
        self.into.into_buffer()
    }
}

/// Merges the samples `kept` (a cell index each, in any order) into the packed list `merged`,
/// through `spare`, and empties `kept`.
pub(super) fn merge_indices(kept: &mut Vec<u32>, merged: &mut Vec<u8>, spare: &mut Vec<u8>) {
    if kept.is_empty() {
        return;
    }
    kept.sort_unstable();
    let mut all = Merging::new(merged, std::mem::take(spare));
    for run in kept.chunk_by(|a, b| a == b) {
        all.push(run[0], run.len() as u64);
    }
    kept.clear();
    *spare = std::mem::replace(merged, all.finish());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cells: &[(u32, u64)]) -> CellCounts {
        let mut w = Writer::reusing(Vec::new());
        for &(i, c) in cells {
            w.push(i, c);
        }
        let r = w.finish();
        assert_eq!(r.iter().collect::<Vec<_>>(), cells);
        let exact = CellCounts::from_bytes(r.as_bytes());
        assert_eq!(exact.iter().collect::<Vec<_>>(), cells);
        // Sized exactly: no byte to spare.
        assert_eq!((exact.len(), exact.bytes()), (r.len(), r.len()));
        assert_eq!(r.is_empty(), cells.is_empty());
        r
    }

    #[test]
    fn cells_come_back_as_written_at_every_size_of_gap_and_count() {
        round_trip(&[]);
        round_trip(&[(0, 1)]);
        round_trip(&[
            (0, u64::MAX),
            (1, 0x80),
            (2, 0x7f),
            (u32::MAX - 1, 1),
            (u32::MAX, 3),
        ]);
        // Deterministic pseudo-random cells (xorshift64): gaps and counts of every byte length.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cells = Vec::new();
        let mut index = 0u32;
        for _ in 0..10_000 {
            let r = next();
            index = index.saturating_add((r % 1000) as u32 >> (r % 10));
            // One sample in a third of the cells, as in an interval.
            let count = if r % 3 == 0 {
                1
            } else {
                next() >> (next() % 64)
            };
            cells.push((index, count));
            index = index.saturating_add(1);
            if index == u32::MAX {
                break;
            }
        }
        round_trip(&cells);
    }

    #[test]
    fn neighbouring_small_counts_take_two_bytes_a_cell() {
        let cells: Vec<(u32, u64)> = (5_000..6_000)
            .map(|i| (i, u64::from(i % 100) + 2))
            .collect();
        let r = round_trip(&cells);
        // The first cell's gap (5,000, doubled) takes 2 bytes; every later gap is 0.
        assert_eq!(r.len(), 2 * 1_000 + 1);
        assert_eq!(r.bytes(), r.len());
    }

    #[test]
    fn single_samples_close_together_take_one_byte_a_cell() {
        // Gaps of 0 to 63 with one sample each, then one of 64, which takes two bytes.
        let mut cells = Vec::new();
        let mut index = 0u32;
        for gap in 0..64 {
            index += gap;
            cells.push((index, 1));
            index += 1;
        }
        let r = round_trip(&cells);
        assert_eq!(r.len(), 64);
        cells.push((index + 64, 1));
        assert_eq!(round_trip(&cells).len(), 66);
        // Zero and large counts after gaps of every width still come back.
        round_trip(&[(0, 0), (1, 1), (200, 0), (70_000, 1), (70_001, 2)]);
    }

    #[test]
    fn merging_adds_the_counts_of_shared_cells_and_keeps_cell_order() {
        let merged = |list: &[u8], cells: &[(u32, u64)]| {
            let mut merging = Merging::new(list, Vec::new());
            for &(i, n) in cells {
                merging.push(i, n);
            }
            merging.finish()
        };
        let first = merged(&[], &[(3, 1), (7, 2)]);
        let both = merged(&first, &[(1, 5), (3, 4), (5, 1), (9, 300)]);
        assert_eq!(
            iter(&both).collect::<Vec<_>>(),
            [(1, 5), (3, 5), (5, 1), (7, 2), (9, 300)]
        );
        assert_eq!(merged(&both, &[]), both);
    }
}
