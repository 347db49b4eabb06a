//! Shared by the examples that record synthetic latencies (`thread_memory`, `collect_cost`).

/// Log-uniform latencies over 0.2-20 ms (nanoseconds), from a seeded xorshift generator.
pub fn latencies(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
        (200_000.0 * 100f64.powf(unit)) as u64
    }
}
