//! [`Live<T>`]: a value an actor's factory and its instances share, which the runtime may replace
//! while they run — the configuration section an actor was started with, as reloaded since.
//!
//! Readers take the current value with [`Live::get`] (a cheap `Arc` clone under a read lock) each
//! time they need it, so a reload reaches the running instance and any instance rebuilt later.

use std::sync::{Arc, RwLock};

/// A shared, replaceable value; see the module docs.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::Live;
///
/// let limit = Live::new(512_u64);
/// let reader = limit.clone();
/// let old = limit.set(1024);
/// assert_eq!(*old, 512);
/// assert_eq!(*reader.get(), 1024);
/// ```
pub struct Live<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live(self.0.clone())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Live").field(&self.get()).finish()
    }
}

impl<T> Live<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Self {
        Live(Arc::new(RwLock::new(Arc::new(value))))
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the value; returns the one it replaced.
    pub fn set(&self, value: T) -> Arc<T> {
        let mut slot = self.0.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, Arc::new(value))
    }
}

impl<T: Default> Default for Live<T> {
    fn default() -> Self {
        Live::new(T::default())
    }
}
