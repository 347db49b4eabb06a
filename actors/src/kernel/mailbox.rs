//! The bounded mailbox behind every supervised actor.
//!
//! Senders push envelopes through [`ChildRef`](crate::ChildRef); the actor's host drains them. The bound
//! is enforced here, on every send path, with the overflow policy of each message kind, and every outcome
//! is counted per kind. The queue outlives restarts of the actor, so messages sent while a child restarts
//! reach the new instance.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::task::AtomicWaker;

use crate::kernel::message::{AskError, Delivery, Overflow, SendError};
use crate::kernel::panic::PanicReport;

/// A queued message, type-erased over its kind.
pub(crate) trait Envelope<A: crate::ChildActor>: Send {
    /// The message kind (its type name).
    fn kind(&self) -> &'static str;
    /// Hands the message to the actor and sends the reply. A panic in the handler is contained, told
    /// to the asker, and returned for the host to act on.
    fn deliver(
        self: Box<Self>,
        act: &mut A,
        ctx: &mut crate::ChildContext<'_, A>,
    ) -> Result<(), PanicReport>;
    /// Tells the asker (if any) why the message will never be handled.
    fn fail(self: Box<Self>, error: AskError);
}

/// Counters of one message kind.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::KindCounters;
///
/// let counters = KindCounters {
///     kind: "Observe",
///     enqueued: 100,
///     rejected: 2,
///     evicted_oldest: 3,
///     ..KindCounters::default()
/// };
/// assert_eq!(counters.drops(), 5);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounters {
    /// The message kind (type name without its path).
    pub kind: &'static str,
    /// Messages queued.
    pub enqueued: u64,
    /// Messages refused because the mailbox was full ([`Overflow::Reject`]).
    pub rejected: u64,
    /// New messages discarded because the mailbox was full ([`Overflow::DropNewest`]).
    pub dropped_newest: u64,
    /// Queued messages evicted for newer ones ([`Overflow::DropOldest`]).
    pub evicted_oldest: u64,
    /// Messages that never reached a handler because the child stopped.
    pub undelivered: u64,
}

impl KindCounters {
    /// Every message of this kind that was lost or refused.
    pub fn drops(&self) -> u64 {
        self.rejected + self.dropped_newest + self.evicted_oldest + self.undelivered
    }
}

/// A snapshot of one mailbox.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::MailboxStats;
///
/// let mut stats = MailboxStats { child: "alerting".into(), capacity: 1024, ..Default::default() };
/// stats.drops_by_minute[0] = 3;
/// stats.drops_by_minute[1] = 4;
/// assert_eq!(stats.drops_within(1), 3);
/// assert_eq!(stats.drops_within(5), 7);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MailboxStats {
    /// The child that owns the mailbox.
    pub child: String,
    /// Messages it holds at most.
    pub capacity: usize,
    /// Messages queued now.
    pub depth: usize,
    /// The largest depth seen.
    pub high_water: usize,
    /// Messages handed to the actor.
    pub delivered: u64,
    /// Per message kind.
    pub kinds: Vec<KindCounters>,
    /// Messages lost or refused in each of the last minutes, this one first.
    pub drops_by_minute: [u64; DROP_MINUTES],
}

/// How many minutes of drops a mailbox remembers.
pub const DROP_MINUTES: usize = 16;

impl MailboxStats {
    /// Messages lost or refused, all kinds together.
    pub fn drops(&self) -> u64 {
        self.kinds.iter().map(KindCounters::drops).sum()
    }

    /// Messages lost or refused within the last `minutes` (this one counted whole; at most
    /// 16).
    pub fn drops_within(&self, minutes: usize) -> u64 {
        self.drops_by_minute[..minutes.clamp(1, DROP_MINUTES)]
            .iter()
            .sum()
    }
}

/// Drops per minute since the mailbox was made, for the last [`DROP_MINUTES`] minutes.
struct DropClock {
    since: tokio::time::Instant,
    /// (minute since `since`, drops in it), by minute modulo the length.
    slots: [(u64, u64); DROP_MINUTES],
}

impl DropClock {
    fn new() -> Self {
        DropClock {
            since: tokio::time::Instant::now(),
            slots: [(u64::MAX, 0); DROP_MINUTES],
        }
    }

    fn minute(&self) -> u64 {
        self.since.elapsed().as_secs() / 60
    }

    fn note(&mut self) {
        let minute = self.minute();
        let slot = &mut self.slots[(minute % DROP_MINUTES as u64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
    }

    fn recent(&self) -> [u64; DROP_MINUTES] {
        let now = self.minute();
        std::array::from_fn(|ago| {
            let minute = now.wrapping_sub(ago as u64);
            let slot = self.slots[(minute % DROP_MINUTES as u64) as usize];
            if ago as u64 <= now && slot.0 == minute {
                slot.1
            } else {
                0
            }
        })
    }
}

struct Queue<A> {
    items: VecDeque<Box<dyn Envelope<A>>>,
    high_water: usize,
    delivered: u64,
    kinds: Vec<KindCounters>,
    drops: DropClock,
}

impl<A> Queue<A> {
    /// The counters of `kind`, for a message of it that is lost or refused.
    fn dropped(&mut self, kind: &'static str) -> &mut KindCounters {
        self.drops.note();
        self.counters(kind)
    }

    fn counters(&mut self, kind: &'static str) -> &mut KindCounters {
        // Kinds are type names: the same `&'static str` each time, so the address usually decides.
        let i = match self
            .kinds
            .iter()
            .position(|k| std::ptr::eq(k.kind, kind) || k.kind == kind)
        {
            Some(i) => i,
            None => {
                self.kinds.push(KindCounters {
                    kind,
                    ..KindCounters::default()
                });
                self.kinds.len() - 1
            }
        };
        &mut self.kinds[i]
    }
}

pub(crate) struct Mailbox<A> {
    pub(crate) child: Arc<str>,
    capacity: usize,
    queue: Mutex<Queue<A>>,
    closed: AtomicBool,
    pub(crate) notify: Arc<Signal>,
    /// The thread the child's host runs on, once started: a blocking ask from it would wait on
    /// itself.
    pub(crate) home: std::sync::OnceLock<std::thread::ThreadId>,
}

/// Wakes the one host that drains a mailbox: a flag and the host's waker, with no lock and no list
/// of waiters (a mailbox has exactly one).
#[derive(Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Wakes the host, or has its next wait return at once.
    pub(crate) fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Ready once [`Signal::notify`] has been called since the last time it was ready.
    pub(crate) fn poll_wait(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.set.swap(false, Ordering::Acquire) {
            return std::task::Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A notify between the check and the registration woke no one: look again.
        if self.set.swap(false, Ordering::Acquire) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

/// The last segment of a type name: `watchkeeper_actors::monitor::GetStats` -> `GetStats`.
///
/// Every message sent asks for its kind's name, so the names found are kept per thread: a type's
/// name is the same `&'static str` each time, and its address and length find it again without
/// searching the text (the search was 5% of an ask's round trip).
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    type Seen = Cell<(usize, usize, &'static str)>;
    thread_local! {
        static SEEN: [Seen; 8] = const { [const { Cell::new((0, 0, "")) }; 8] };
    }
    let full = std::any::type_name::<T>();
    let key = (full.as_ptr() as usize, full.len());
    let way = (key.0 ^ (key.0 >> 7) ^ key.1) % 8;
    SEEN.try_with(|seen| {
        let (addr, len, short) = seen[way].get();
        if (addr, len) == key {
            return short;
        }
        let short = last_segment(full);
        seen[way].set((key.0, key.1, short));
        short
    })
    .unwrap_or_else(|_| last_segment(full))
}

/// The last `::` segment of `full`, generic arguments included.
fn last_segment(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    match base.rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

impl<A> Mailbox<A> {
    pub(crate) fn new(child: Arc<str>, capacity: usize) -> Self {
        Mailbox {
            child,
            capacity: capacity.max(1),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                high_water: 0,
                delivered: 0,
                kinds: Vec::new(),
                drops: DropClock::new(),
            }),
            closed: AtomicBool::new(false),
            notify: Arc::default(),
            home: std::sync::OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<A>> {
        // The queue holds no invariant a panicking holder could break half-way; keep going.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The oldest message, and whether more remain behind it (a send to an empty mailbox notifies,
    /// so a host that saw none remaining need not look again).
    pub(crate) fn pop(&self) -> (Option<Box<dyn Envelope<A>>>, bool) {
        let mut q = self.lock();
        let env = q.items.pop_front();
        if env.is_some() {
            q.delivered += 1;
        }
        (env, !q.items.is_empty())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuses all further sends.
    pub(crate) fn close(&self) {
        let _q = self.lock();
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn stats(&self) -> MailboxStats {
        let q = self.lock();
        MailboxStats {
            child: self.child.to_string(),
            capacity: self.capacity,
            depth: q.items.len(),
            high_water: q.high_water,
            delivered: q.delivered,
            kinds: q.kinds.clone(),
            drops_by_minute: q.drops.recent(),
        }
    }
}

impl<A: crate::ChildActor> Mailbox<A> {
    /// Queues `env` under `policy`. On refusal the envelope comes back with the error so the caller can
    /// tell its asker.
    #[allow(clippy::type_complexity)]
    pub(crate) fn push(
        &self,
        env: Box<dyn Envelope<A>>,
        policy: Overflow,
    ) -> Result<Delivery, (SendError, Box<dyn Envelope<A>>)> {
        let kind = env.kind();
        let mut evicted = None;
        let outcome;
        {
            let mut q = self.lock();
            if self.closed.load(Ordering::Acquire) {
                q.dropped(kind).undelivered += 1;
                return Err((
                    SendError::Stopped {
                        child: self.child.clone(),
                    },
                    env,
                ));
            }
            if q.items.len() >= self.capacity {
                match policy {
                    Overflow::Reject => {
                        q.dropped(kind).rejected += 1;
                        return Err((
                            SendError::Full {
                                child: self.child.clone(),
                                capacity: self.capacity,
                            },
                            env,
                        ));
                    }
                    Overflow::DropNewest => {
                        q.dropped(kind).dropped_newest += 1;
                        drop(q);
                        env.fail(AskError::Dropped {
                            child: self.child.clone(),
                        });
                        return Ok(Delivery::DroppedNewest);
                    }
                    Overflow::DropOldest => {
                        match q.items.iter().position(|e| e.kind() == kind) {
                            Some(i) => {
                                evicted = q.items.remove(i);
                                q.dropped(kind).evicted_oldest += 1;
                            }
                            None => {
                                // Nothing of this kind to evict: the other kinds keep their places.
                                q.dropped(kind).rejected += 1;
                                return Err((
                                    SendError::Full {
                                        child: self.child.clone(),
                                        capacity: self.capacity,
                                    },
                                    env,
                                ));
                            }
                        }
                    }
                }
            }
            let was_empty = q.items.is_empty();
            q.items.push_back(env);
            q.counters(kind).enqueued += 1;
            q.high_water = q.high_water.max(q.items.len());
            outcome = if evicted.is_some() {
                Delivery::EvictedOldest
            } else {
                Delivery::Queued
            };
            if was_empty {
                self.notify.notify();
            }
        }
        if let Some(old) = evicted {
            old.fail(AskError::Evicted {
                child: self.child.clone(),
            });
        }
        Ok(outcome)
    }

    /// Closes the mailbox and fails every queued message; returns how many there were.
    pub(crate) fn close_and_fail(&self) -> usize {
        let drained: Vec<_> = {
            let mut q = self.lock();
            self.closed.store(true, Ordering::Release);
            let items: Vec<_> = q.items.drain(..).collect();
            for env in &items {
                let kind = env.kind();
                q.dropped(kind).undelivered += 1;
            }
            items
        };
        let n = drained.len();
        for env in drained {
            env.fail(AskError::Undelivered {
                child: self.child.clone(),
            });
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    mod deep {
        pub struct Inner;
        pub struct Wrap<T>(pub T);
    }
    struct A1;
    struct A2;
    struct A3;
    struct A4;
    struct A5;
    struct A6;
    struct A7;
    struct A8;
    struct A9;

    #[test]
    fn short_names_stay_right_when_more_kinds_than_ways_take_turns() {
        let names = || {
            [
                short_type_name::<A1>(),
                short_type_name::<A2>(),
                short_type_name::<A3>(),
                short_type_name::<A4>(),
                short_type_name::<A5>(),
                short_type_name::<A6>(),
                short_type_name::<A7>(),
                short_type_name::<A8>(),
                short_type_name::<A9>(),
                short_type_name::<deep::Inner>(),
                short_type_name::<deep::Wrap<deep::Inner>>(),
                short_type_name::<u64>(),
            ]
        };
        let expected = [
            "A1",
            "A2",
            "A3",
            "A4",
            "A5",
            "A6",
            "A7",
            "A8",
            "A9",
            "Inner",
            "Wrap<watchkeeper_actors::kernel::mailbox::tests::deep::Inner>",
            "u64",
        ];
        // Twice: the second round reads what the first kept (or found evicted).
        assert_eq!(names(), expected);
        assert_eq!(names(), expected);
    }
}
