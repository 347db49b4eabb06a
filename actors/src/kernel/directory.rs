//! [`Directory<A>`]: actors of one kind by name, shared by the actors that talk to them.
//!
//! The runtime adds an actor when it starts one (a monitor created by the host, a channel added by a
//! reload) and removes it when it stops; readers take the handle they need, or a snapshot of all.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::kernel::child_ref::ChildRef;

/// Actors by name; see the module docs.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::monitor::MonitorActor;
/// use watchkeeper_actors::Directory;
///
/// let monitors: Directory<MonitorActor> = Directory::default();
/// assert!(monitors.is_empty());
/// assert!(monitors.get("search").is_none());
/// assert!(monitors.remove("search").is_none());
/// ```
pub struct Directory<A>(Arc<Mutex<BTreeMap<String, ChildRef<A>>>>);

impl<A> Clone for Directory<A> {
    fn clone(&self) -> Self {
        Directory(self.0.clone())
    }
}

impl<A> Default for Directory<A> {
    fn default() -> Self {
        Directory(Arc::new(Mutex::new(BTreeMap::new())))
    }
}

impl<A> std::fmt::Debug for Directory<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map().keys()).finish()
    }
}

impl<A> Directory<A> {
    fn map(&self) -> MutexGuard<'_, BTreeMap<String, ChildRef<A>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) `name`.
    pub fn insert(&self, name: impl Into<String>, actor: ChildRef<A>) {
        self.map().insert(name.into(), actor);
    }

    /// Removes `name`; returns its handle if it was there.
    pub fn remove(&self, name: &str) -> Option<ChildRef<A>> {
        self.map().remove(name)
    }

    /// The actor named `name`.
    pub fn get(&self, name: &str) -> Option<ChildRef<A>> {
        self.map().get(name).cloned()
    }

    /// Every actor with its name, in name order.
    pub fn entries(&self) -> Vec<(String, ChildRef<A>)> {
        self.map()
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}
