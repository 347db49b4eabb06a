//! [`CellCounts`]: histogram cells by index with their counts, packed small. The collector keeps
//! its last reading of each recording thread's cells this way (the cells it saw non-zero, with
//! their counts then), and each interval of a monitor's window its samples per cell.
//!
//! As a list of `(u32, u64)` each cell cost 16 bytes, twice a cell itself. Here each is two
//! LEB128 integers: the gap since the previous cell's index, and the count. Neighbouring cells
//! (gap 0) holding counts below 128 take 2 bytes.

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
        Iter {
            bytes: &self.bytes,
            next: 0,
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Bytes encoded (a size to start the next reading's buffer at).
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds no cell.
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// `cells` (sorted by index, each index once) packed, in one allocation of the exact size.
    pub(super) fn from_sorted(cells: &[(u32, u64)]) -> Self {
        let mut next = 0u32;
        let bytes = cells
            .iter()
            .map(|&(i, n)| {
                let gap = u64::from(i.saturating_sub(next));
                next = i.saturating_add(1);
                width(gap) + width(n)
            })
            .sum();
        let mut w = Writer::with_capacity(bytes);
        for &(i, n) in cells {
            w.push(i, n);
        }
        debug_assert_eq!(w.bytes.len(), w.bytes.capacity());
        CellCounts { bytes: w.bytes }
    }
}

/// Builds a [`CellCounts`] from cells pushed in increasing index order.
pub(super) struct Writer {
    bytes: Vec<u8>,
    next: u32,
}

impl Writer {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Writer {
            bytes: Vec::with_capacity(bytes),
            next: 0,
        }
    }

    /// Adds cell `index` with `count`; `index` is above every index pushed before.
    #[inline]
    pub(super) fn push(&mut self, index: u32, count: u64) {
        debug_assert!(index >= self.next, "cells are pushed in increasing order");
        let gap = u64::from(index.saturating_sub(self.next));
        if gap < 0x80 && count < 0x80 {
            // The common case, one byte each.
            self.bytes.extend_from_slice(&[gap as u8, count as u8]);
        } else {
            put(&mut self.bytes, gap);
            put(&mut self.bytes, count);
        }
        self.next = index.saturating_add(1);
    }

    /// The cells pushed, holding no spare capacity.
    pub(super) fn finish(mut self) -> CellCounts {
        self.bytes.shrink_to_fit();
        CellCounts { bytes: self.bytes }
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
            // The common case, one byte each.
            [gap, count, ref rest @ ..] if (gap | count) < 0x80 => {
                self.bytes = rest;
                (u64::from(gap), u64::from(count))
            }
            _ => (take(&mut self.bytes)?, take(&mut self.bytes)?),
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

/// Bytes `put` writes for `v`.
fn width(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cells: &[(u32, u64)]) -> CellCounts {
        let mut w = Writer::with_capacity(0);
        for &(i, c) in cells {
            w.push(i, c);
        }
        let r = w.finish();
        assert_eq!(r.iter().collect::<Vec<_>>(), cells);
        let exact = CellCounts::from_sorted(cells);
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
            let count = next() >> (next() % 64);
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
            .map(|i| (i, u64::from(i % 100) + 1))
            .collect();
        let r = round_trip(&cells);
        // The first cell's gap (5,000) takes 2 bytes; every later gap is 0.
        assert_eq!(r.len(), 2 * 1_000 + 1);
        assert_eq!(r.bytes(), r.len());
    }
}
