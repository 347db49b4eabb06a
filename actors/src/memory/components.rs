//! The housekeeping protocol every component speaks: [`GetFootprint`] (the bytes it really holds)
//! and [`Trim`] (release history, reply with the bytes freed), and the [`Components`] the memory
//! manager measures.
//!
//! Monitors, the alerting actor and the tuner implement both messages; the runtime registers each as
//! it starts it, so the memory manager reaches them without knowing their types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::{ChildRef, Handles, Message, Overflow};

/// Bytes a component holds, counted from the sizes and capacities of what it keeps; the allocator's
/// own bookkeeping (and a map's internal nodes beyond its entries) is not included.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig};
/// # let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(store.clone())));
/// use watchkeeper_actors::memory::GetFootprint;
///
/// let footprint = search.ask(GetFootprint, t).await?;
/// assert_eq!(footprint.component, "search");
/// assert!(footprint.bytes >= footprint.recorder_bytes + footprint.history_bytes);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// The component.
    pub component: String,
    /// All bytes it holds.
    pub bytes: usize,
    /// Bytes of recording cells (all threads), counting of their reserved pages only those in
    /// memory (written, and not given back).
    pub recorder_bytes: usize,
    /// Bytes of history that [`Trim`] can release.
    pub history_bytes: usize,
    /// Recording threads seen.
    pub threads: usize,
}

/// Ask for the bytes the component holds.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig};
/// # let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(store.clone())));
/// use watchkeeper_actors::memory::GetFootprint;
///
/// let footprint = search.ask(GetFootprint, t).await?;
/// assert!(footprint.bytes > 0);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct GetFootprint;
impl Message for GetFootprint {
    type Result = Footprint;
}

/// Release history beyond what is kept; replies with the bytes freed, measured as the component's
/// footprint before minus after.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig};
/// # let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(store.clone())));
/// use watchkeeper_actors::memory::Trim;
///
/// // Nothing collected yet, so nothing to release.
/// let freed = search.ask(Trim { keep_intervals: 10, keep_history: 100 }, t).await?;
/// assert_eq!(freed, 0);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    /// Intervals of recent statistics a monitor keeps.
    pub keep_intervals: usize,
    /// Entries of history (resolved alerts, tuning actions) kept.
    pub keep_history: usize,
}
impl Message for Trim {
    type Result = usize;
    const OVERFLOW: Overflow = Overflow::DropNewest;
}

type FootprintAsk = dyn Fn(Duration) -> LocalBoxFuture<'static, Option<Footprint>> + Send + Sync;
type TrimAsk = dyn Fn(Trim, Duration) -> LocalBoxFuture<'static, Option<usize>> + Send + Sync;

/// One component, as the memory manager reaches it.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig};
/// # let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(store.clone())));
/// use watchkeeper_actors::memory::{Component, Trim};
///
/// let component = Component::of(search);
/// assert_eq!(component.name(), "search");
/// let footprint = component.footprint(t).await.unwrap();
/// assert_eq!(footprint.component, "search");
/// assert_eq!(component.trim(Trim { keep_intervals: 1, keep_history: 1 }, t).await, Some(0));
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Component {
    name: String,
    footprint: Arc<FootprintAsk>,
    trim: Arc<TrimAsk>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Component").field(&self.name).finish()
    }
}

impl Component {
    /// The component behind `actor`.
    pub fn of<A>(actor: ChildRef<A>) -> Self
    where
        A: Handles<GetFootprint> + Handles<Trim>,
    {
        let name = actor.name().to_owned();
        let (a, b) = (actor.clone(), actor);
        Component {
            name,
            footprint: Arc::new(move |timeout| {
                let a = a.clone();
                Box::pin(async move { a.ask(GetFootprint, timeout).await.ok() })
            }),
            trim: Arc::new(move |trim, timeout| {
                let b = b.clone();
                Box::pin(async move { b.ask(trim, timeout).await.ok() })
            }),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its footprint, or `None` when it does not answer within `timeout`.
    pub fn footprint(&self, timeout: Duration) -> LocalBoxFuture<'static, Option<Footprint>> {
        (self.footprint)(timeout)
    }

    /// Trims it; the bytes it freed, or `None` when it does not answer within `timeout`.
    pub fn trim(&self, trim: Trim, timeout: Duration) -> LocalBoxFuture<'static, Option<usize>> {
        (self.trim)(trim, timeout)
    }
}

/// The components the memory manager measures and trims; the runtime adds each as it starts it.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig};
/// # let store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(store.clone())));
/// use watchkeeper_actors::memory::{Component, Components};
///
/// let components = Components::default();
/// components.add(Component::of(search.clone()));
/// let names: Vec<String> = components.all().iter().map(|c| c.name().to_owned()).collect();
/// assert_eq!(names, ["search"]);
/// components.remove("search");
/// assert!(components.all().is_empty());
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Components(Arc<Mutex<Listed>>);

/// The components in the order they were added, and where each name is in that order.
#[derive(Debug, Default)]
struct Listed {
    list: Vec<Component>,
    at: HashMap<String, usize>,
}

impl Listed {
    fn remove(&mut self, name: &str) {
        let Some(at) = self.at.remove(name) else {
            return;
        };
        self.list.remove(at);
        for c in &self.list[at..] {
            if let Some(i) = self.at.get_mut(&c.name) {
                *i -= 1;
            }
        }
    }
}

impl Components {
    fn listed(&self) -> MutexGuard<'_, Listed> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a component (replacing one of the same name, which moves to the end).
    pub fn add(&self, component: Component) {
        let mut listed = self.listed();
        listed.remove(&component.name);
        let end = listed.list.len();
        listed.at.insert(component.name.clone(), end);
        listed.list.push(component);
    }

    /// Removes the component named `name`.
    pub fn remove(&self, name: &str) {
        self.listed().remove(name);
    }

    /// Every component, in the order they were added.
    pub fn all(&self) -> Vec<Component> {
        self.listed().list.clone()
    }
}
