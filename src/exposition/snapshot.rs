//! What one scrape shows, gathered from the tree: every actor asked with the ask timeout, at once.

use std::sync::atomic::Ordering;

use watchkeeper_actors::alerting::GetAlertingStatus;
use watchkeeper_actors::process::GetProcessStats;

use super::Snapshot;
use crate::tree::ActorTree;

/// Everything one scrape shows.
pub(crate) async fn snapshot(tree: &ActorTree) -> Snapshot {
    let timeout = tree.link.ask_timeout;
    let mut monitors = tree.handles();
    monitors.sort_by(|a, b| a.store().name().cmp(b.store().name()));
    let (alerting, supervision, process) = futures_util::join!(
        tree.alerting.ask(GetAlertingStatus, timeout),
        tree.root.status(timeout),
        tree.process.ask(GetProcessStats, timeout),
    );
    Snapshot {
        monitors,
        supervision,
        process: process.ok(),
        uptime_seconds: tree.started.elapsed().as_secs_f64(),
        alerting: alerting.ok(),
        channels: tree
            .channel_counters()
            .into_iter()
            .map(|(n, c)| {
                (
                    n,
                    c.delivered.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                    c.retried.load(Ordering::Relaxed),
                    c.breaker_open.load(Ordering::Relaxed),
                )
            })
            .collect(),
        reload: tree.reload_status(),
        events: tree.events.counts(),
        instrumentation_dropped: tree.instrumentation_dropped.load(Ordering::Relaxed),
        storage: tree.storage_status(),
        admin: {
            let a = &tree.admin_connections;
            [&a.open, &a.accepted, &a.evicted, &a.accept_errors].map(|n| n.load(Ordering::Relaxed))
        },
    }
}
