//! [`SupervisorRef`]: the handle through which children are started and the tree is shut down.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};

use crate::kernel::child::ChildActor;
use crate::kernel::child_ref::ChildRef;
use crate::kernel::events::EventBus;
use crate::kernel::mailbox::Mailbox;
use crate::kernel::watchdog::Watchdog;

use super::{
    ChildSpec, GetSupervisorStatus, HostAlarm, Parent, Shutdown, ShutdownReport, StartChild,
    StartSupervisor, StopChild, SupervisorActor, SupervisorConfig, SupervisorStatus, TypedStarter,
};

/// A handle to a supervisor: start children under it, read its status, shut it down.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::{ChildActor, ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
///
/// struct Idle;
/// impl ChildActor for Idle {}
///
/// actix::System::new().block_on(async {
///     let bus = EventBus::default();
///     let (root, alarm) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let _idle = root.start_child(ChildSpec::new("idle", || Idle));
///     let status = root.status(Duration::from_secs(1)).await.unwrap();
///     assert_eq!(status.children.len(), 1);
///     assert!(root.stop_child("idle").await);
///     root.shutdown().await;
///     assert!(!alarm.escalated());
/// });
/// ```
#[derive(Clone)]
pub struct SupervisorRef {
    addr: Addr<SupervisorActor>,
    name: Arc<str>,
    events: EventBus,
}

impl std::fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorRef")
            .field("name", &self.name)
            .finish()
    }
}

impl SupervisorRef {
    /// Starts a root supervisor on the current actix arbiter. Its escalation raises the returned alarm.
    pub fn start_root(
        name: impl Into<String>,
        config: SupervisorConfig,
        events: EventBus,
        watchdog: Option<Arc<Watchdog>>,
    ) -> (SupervisorRef, Arc<HostAlarm>) {
        let name: Arc<str> = name.into().into();
        let alarm = Arc::new(HostAlarm::default());
        let addr = SupervisorActor::new(
            name.clone(),
            config,
            Parent::Host(alarm.clone()),
            events.clone(),
            watchdog,
        )
        .start();
        (SupervisorRef { addr, name, events }, alarm)
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tree's event bus.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Starts a child from `spec`. The returned handle accepts messages at once; they are handled as
    /// soon as the child has started. Callable from any thread.
    pub fn start_child<A: ChildActor>(&self, spec: ChildSpec<A>) -> ChildRef<A> {
        let mailbox = Arc::new(Mailbox::new(spec.name.clone(), spec.mailbox_capacity));
        let starter = Box::new(TypedStarter {
            factory: Some(spec.factory),
            mailbox: mailbox.clone(),
        });
        let msg = StartChild {
            name: spec.name,
            restart: spec.restart,
            shutdown_timeout: spec.shutdown_timeout,
            starter,
        };
        // Control plane: one message per child started, so actix's unbounded `do_send` is bounded here.
        self.addr.do_send(msg);
        ChildRef::from_mailbox(mailbox)
    }

    /// Starts a nested supervisor under this one. Its escalation counts as a failure of one child here.
    pub async fn start_supervisor(
        &self,
        name: impl Into<String>,
        config: SupervisorConfig,
    ) -> Option<SupervisorRef> {
        let name: Arc<str> = name.into().into();
        let addr = self
            .addr
            .send(StartSupervisor {
                name: name.clone(),
                config,
            })
            .await
            .ok()??;
        Some(SupervisorRef {
            addr,
            name,
            events: self.events.clone(),
        })
    }

    /// Stops the child named `name` for good, gracefully within its shutdown timeout; whether a
    /// running child had that name. Its handles then answer [`crate::SendError::Stopped`].
    pub async fn stop_child(&self, name: &str) -> bool {
        self.addr
            .send(StopChild {
                name: name.to_owned(),
            })
            .await
            .unwrap_or(false)
    }

    /// The supervisor's status, or `None` if it does not answer within `timeout`.
    pub async fn status(&self, timeout: Duration) -> Option<SupervisorStatus> {
        tokio::time::timeout(timeout, self.addr.send(GetSupervisorStatus))
            .await
            .ok()?
            .ok()
    }

    /// Stops every child gracefully (last started first) and then the supervisor.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.shutdown_by(None).await
    }

    /// Like [`SupervisorRef::shutdown`], with every child's timeout cut to what is left until `deadline`.
    pub async fn shutdown_by(&self, deadline: Option<std::time::Instant>) -> ShutdownReport {
        self.addr
            .send(Shutdown { deadline })
            .await
            .unwrap_or_default()
    }
}
