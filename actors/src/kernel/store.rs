//! [`Store<T>`]: state that outlives restarts of the actor that keeps it.
//!
//! A supervised actor is rebuilt from its factory after a panic, so whatever must survive (collected
//! samples, active alerts, tuning records) lives in a store the factory hands to every instance. A
//! store is a mutex that a panicking holder cannot poison for the next instance: the state it guards
//! is kept consistent by each handler, and a half-finished update is better than losing everything.

use std::sync::{Arc, Mutex, MutexGuard};

/// State shared by every instance of one actor; see the module docs.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::Store;
///
/// let seen = Store::new(Vec::<String>::new());
/// seen.lock().push("search".into());
/// assert_eq!(seen.lock().len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Store<T> {
    state: Mutex<T>,
}

impl<T> From<T> for Store<T> {
    /// A store holding `state`, to embed in a larger store.
    fn from(state: T) -> Self {
        Store {
            state: Mutex::new(state),
        }
    }
}

impl<T> Store<T> {
    /// A store holding `state`.
    pub fn new(state: T) -> Arc<Self> {
        Arc::new(Store {
            state: Mutex::new(state),
        })
    }

    /// The state, locked.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
