//! [`Baseline`]: a reference window for regression tests that only moves while the metric is stable.

use std::collections::VecDeque;

use super::stats::{mann_whitney_u, summary};

/// A metric's recent values and the reference they are compared with. New values enter `recent`;
/// when `recent` is full and does not differ from the reference (Mann-Whitney p above `stable_p`),
/// its oldest value moves into the reference, so a regression never becomes its own baseline.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::detect::Baseline;
///
/// let mut baseline = Baseline::new(4, 2, 0.05);
/// for ms in [10.0, 11.0, 9.0, 10.0, 10.5, 9.5] {
///     baseline.push(ms);
/// }
/// assert!(baseline.ready());
/// assert_eq!(baseline.reference_mean(), 10.0);
/// let (reference, recent) = baseline.windows();
/// assert_eq!((reference.len(), recent), (4, vec![10.5, 9.5]));
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    reference: VecDeque<f64>,
    recent: VecDeque<f64>,
    reference_len: usize,
    recent_len: usize,
    stable_p: f64,
}

impl Baseline {
    /// A baseline of `reference_len` values compared with the last `recent_len`.
    pub fn new(reference_len: usize, recent_len: usize, stable_p: f64) -> Self {
        Baseline {
            reference: VecDeque::with_capacity(reference_len + 1),
            recent: VecDeque::with_capacity(recent_len + 1),
            reference_len: reference_len.max(2),
            recent_len: recent_len.max(2),
            stable_p,
        }
    }

    /// Adds a value.
    pub fn push(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.reference.len() < self.reference_len {
            self.reference.push_back(value);
            return;
        }
        self.recent.push_back(value);
        if self.recent.len() > self.recent_len {
            let (reference, recent) = self.windows();
            let stable =
                mann_whitney_u(&reference, &recent).is_none_or(|u| u.p_value > self.stable_p);
            let oldest = self.recent.pop_front();
            if let (true, Some(v)) = (stable, oldest) {
                self.reference.push_back(v);
                self.reference.pop_front();
            }
        }
    }

    /// Whether both windows are full.
    pub fn ready(&self) -> bool {
        self.reference.len() >= self.reference_len && self.recent.len() >= self.recent_len
    }

    /// The reference and recent values.
    pub fn windows(&self) -> (Vec<f64>, Vec<f64>) {
        (
            self.reference.iter().copied().collect(),
            self.recent.iter().copied().collect(),
        )
    }

    /// Bytes this baseline holds.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.reference.capacity() + self.recent.capacity()) * std::mem::size_of::<f64>()
    }

    /// The reference mean.
    pub fn reference_mean(&self) -> f64 {
        summary(&self.reference.iter().copied().collect::<Vec<_>>()).mean
    }
}
