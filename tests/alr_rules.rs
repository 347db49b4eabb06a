//! Alerting on virtual time: every state transition and routing policy, and the `regression`,
//! `trend` and `anomaly` rule kinds, driven by scripted observations. Delivery to real receivers is tested in `alr_delivery.rs`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use watchkeeper_actors::alerting::{
    self, Acknowledge, AddSilence, AlertRule, AlertState, AlertStore, AlertingActor,
    AlertingConfig, EscalationConfig, ExpireSilence, GetAlertHistory, GetAlertingStatus, GetAlerts,
    Matcher, Metric, Observe, RateLimitConfig, RegressionSettings, RuleKind, Silence, SilenceError,
    TrendSettings,
};
use watchkeeper_actors::detect::ALERT_THRESHOLD;
use watchkeeper_actors::harness::{self, Harness, InjectPanic};
use watchkeeper_actors::notify::{
    AlertPayload, AlertStatus, ChannelCounters, DeliveryPolicy, Notification, NotifierActor,
    NotifierDirectory, SendFailure, Transport,
};
use watchkeeper_actors::{ChildRef, ChildSpec, Live, SupervisionEvent, SupervisorConfig};

const ASK: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

type Sent = Arc<Mutex<Vec<Notification>>>;

/// Keeps what it is given (routing is what these tests check).
struct Keep(Sent);
impl Transport for Keep {
    fn send(
        &self,
        n: &Notification,
        _: Duration,
    ) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
        self.0.lock().unwrap().push(n.clone());
        Box::pin(async { Ok(()) })
    }
}

fn rule(name: &str, for_: Duration) -> AlertRule {
    AlertRule {
        warning: Some(0.1),
        critical: Some(0.5),
        for_,
        annotations: BTreeMap::from([(
            "summary".into(),
            "p99 is {value}s (threshold {threshold}s)".into(),
        )]),
        ..AlertRule::new(name, Some("search"), Metric::P99)
    }
}

fn settings(rules: Vec<AlertRule>) -> AlertingConfig {
    AlertingConfig {
        receiver: Some(vec!["log".into()]),
        // Only scripted observations drive these tests.
        check_interval: Duration::from_secs(86_400),
        group_by: vec!["alertname".into()],
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
        suppression_window: Duration::from_secs(300),
        history_limit: 100,
        rules,
        escalation: EscalationConfig {
            timeout: Duration::from_secs(900),
            tiers: vec![vec!["pager".into()]],
        },
        rate_limit: RateLimitConfig {
            per_minute: 100,
            per_hour: 1000,
        },
        ..AlertingConfig::default()
    }
}

fn tree(h: &Harness, s: AlertingConfig) -> (ChildRef<AlertingActor>, Sent) {
    let (alerting, sent, _) = tree_and_store(h, s);
    (alerting, sent)
}

/// [`tree`], with the alert store the alerting actor keeps its state in.
fn tree_and_store(
    h: &Harness,
    s: AlertingConfig,
) -> (ChildRef<AlertingActor>, Sent, Arc<AlertStore>) {
    let sent: Sent = Arc::default();
    let channels = NotifierDirectory::default();
    for name in ["log", "pager", "alertmanager"] {
        let keep = sent.clone();
        let n = h.root().start_child(ChildSpec::new(name, move || {
            NotifierActor::new(
                name,
                Box::new(Keep(keep.clone())),
                DeliveryPolicy::default(),
                Arc::new(ChannelCounters::default()),
            )
        }));
        channels.insert(name, n);
    }
    let peers = alerting::Peers {
        channels,
        ask_timeout: ASK,
        ..Default::default()
    };
    let (s, store) = (Live::new(s), AlertStore::new(Default::default()));
    let kept = store.clone();
    let alerting = h.root().start_child(ChildSpec::new("alerting", move || {
        AlertingActor::new(s.clone(), store.clone(), peers.clone())
    }));
    (alerting, sent, kept)
}

async fn observe(h: &Harness, a: &ChildRef<AlertingActor>, values: Vec<Option<f64>>) {
    a.ask(Observe(values), ASK).await.unwrap();
    h.settle().await;
}

fn taken(sent: &Sent) -> Vec<Notification> {
    std::mem::take(&mut *sent.lock().unwrap())
}

fn names(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| format!("{}/{}", a.labels["alertname"], a.labels["severity"]))
        .collect()
}

#[test]
fn pending_fires_after_for_notifies_after_group_wait_and_resolves_at_once() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (a, sent) = tree(&h, settings(vec![rule("SearchSlow", MIN)]));
        observe(&h, &a, vec![Some(0.2)]).await;
        let alerts = a.ask(GetAlerts, ASK).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            (alerts[0].state, alerts[0].labels["severity"].as_str()),
            (AlertState::Pending, "warning")
        );
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(
            a.ask(GetAlerts, ASK).await.unwrap()[0].state,
            AlertState::Pending,
            "not before `for`"
        );
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        let alert = a.ask(GetAlerts, ASK).await.unwrap().remove(0);
        assert_eq!(alert.state, AlertState::Firing);
        assert_eq!(alert.annotations["summary"], "p99 is 0.2s (threshold 0.1s)");
        // Seen again at every evaluation: never before it started firing.
        assert!(alert.updated_at >= alert.fired_at.unwrap(), "{alert:?}");
        assert!(
            taken(&sent).is_empty(),
            "group_wait holds the first notification"
        );
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.25)]).await;
        let again = a.ask(GetAlerts, ASK).await.unwrap().remove(0);
        assert!(again.updated_at >= alert.updated_at);
        assert_eq!(again.fired_at, alert.fired_at);
        let first = taken(&sent);
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].channel.as_str(), first[0].status),
            ("log", AlertStatus::Firing)
        );
        assert_eq!(names(&first[0]), ["SearchSlow/warning"]);
        h.advance(Duration::from_secs(10)).await;
        observe(&h, &a, vec![Some(0.01)]).await;
        let resolved = taken(&sent);
        assert_eq!(
            resolved.len(),
            1,
            "the resolved notice does not wait for group_interval"
        );
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
        assert!(resolved[0].alerts[0].ends_at.is_some());
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
        let history = a.ask(GetAlertHistory, ASK).await.unwrap();
        assert_eq!(history.len(), 1);
        let log: Vec<&str> = history[0].events.iter().map(|e| e.what.as_str()).collect();
        assert!(
            log.iter().any(|e| e.starts_with("pending"))
                && log.contains(&"firing")
                && log.contains(&"resolved"),
            "{log:?}"
        );
        assert!(
            log.iter().any(|e| e.contains("delivered to log")),
            "deliveries are recorded in the alert's history: {log:?}"
        );
        let status = a.ask(GetAlertingStatus, ASK).await.unwrap();
        assert_eq!(
            (
                status.fired_total,
                status.alerts_today,
                status.active_alerts
            ),
            (1, 1, 0)
        );
        assert_eq!(status.delivered["log"], 2);
    });
}

#[test]
fn a_breach_shorter_than_for_never_fires() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (a, sent) = tree(&h, settings(vec![rule("SearchSlow", MIN)]));
        observe(&h, &a, vec![Some(0.2)]).await;
        h.advance(Duration::from_secs(40)).await;
        observe(&h, &a, vec![Some(0.05)]).await;
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
        h.advance(Duration::from_secs(600)).await;
        observe(&h, &a, vec![Some(0.05)]).await;
        assert!(taken(&sent).is_empty());
        assert_eq!(a.ask(GetAlertingStatus, ASK).await.unwrap().fired_total, 0);
    });
}

#[test]
fn keep_firing_for_recovers_before_resolving_and_no_data_keeps_the_alert() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut r = rule("SearchSlow", Duration::ZERO);
        r.keep_firing_for = Duration::from_secs(120);
        let (a, _sent) = tree(&h, settings(vec![r]));
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(
            a.ask(GetAlerts, ASK).await.unwrap()[0].state,
            AlertState::Firing,
            "for = 0 fires at once"
        );
        observe(&h, &a, vec![Some(0.01)]).await;
        assert_eq!(
            a.ask(GetAlerts, ASK).await.unwrap()[0].state,
            AlertState::Recovering
        );
        h.advance(Duration::from_secs(60)).await;
        observe(&h, &a, vec![Some(0.3)]).await;
        assert_eq!(
            a.ask(GetAlerts, ASK).await.unwrap()[0].state,
            AlertState::Firing,
            "a breach during recovery fires again"
        );
        observe(&h, &a, vec![None]).await;
        assert_eq!(
            a.ask(GetAlerts, ASK).await.unwrap()[0].state,
            AlertState::NoData,
            "no data is not a resolution"
        );
        observe(&h, &a, vec![Some(0.01)]).await;
        h.advance(Duration::from_secs(121)).await;
        observe(&h, &a, vec![Some(0.01)]).await;
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
        assert_eq!(a.ask(GetAlertHistory, ASK).await.unwrap().len(), 1);
    });
}

#[test]
fn a_firing_critical_inhibits_the_warning_of_the_same_labels() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (a, sent) = tree(&h, settings(vec![rule("SearchSlow", Duration::ZERO)]));
        observe(&h, &a, vec![Some(0.7)]).await;
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.7)]).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1);
        assert_eq!(
            names(&n[0]),
            ["SearchSlow/critical"],
            "the warning is muted"
        );
        let status = a.ask(GetAlertingStatus, ASK).await.unwrap();
        assert_eq!((status.active_alerts, status.inhibited_alerts), (2, 1));
    });
}

#[test]
fn silences_hold_notifications_until_removed() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (a, sent) = tree(&h, settings(vec![rule("SearchSlow", Duration::ZERO)]));
        let now = chrono::Utc::now();
        let silence = Silence {
            id: String::new(),
            matchers: vec![Matcher::equal("alertname", "SearchSlow")],
            starts_at: now - chrono::Duration::minutes(1),
            ends_at: now + chrono::Duration::hours(1),
            created_by: "oncall".into(),
            comment: "deploying".into(),
            updated_at: now,
        };
        let id = a
            .ask(AddSilence(silence.clone()), ASK)
            .await
            .unwrap()
            .unwrap();
        assert!(a
            .ask(
                AddSilence(Silence {
                    matchers: vec![],
                    ..silence.clone()
                }),
                ASK
            )
            .await
            .unwrap()
            .is_err());
        // A silence that would mute everything is refused, as one that ends in the past.
        for matchers in [
            vec![Matcher::parse(r#"alertname!="""#).unwrap()],
            vec![Matcher::parse(r#"alertname=~".*""#).unwrap()],
        ] {
            let refused = a
                .ask(
                    AddSilence(Silence {
                        matchers,
                        ..silence.clone()
                    }),
                    ASK,
                )
                .await
                .unwrap();
            assert_eq!(refused, Err(SilenceError::MatchesEverything));
        }
        observe(&h, &a, vec![Some(0.2)]).await;
        h.advance(Duration::from_secs(60)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert!(taken(&sent).is_empty());
        assert_eq!(
            a.ask(GetAlertingStatus, ASK).await.unwrap().silenced_alerts,
            1
        );
        assert_eq!(a.ask(ExpireSilence(id.clone()), ASK).await.unwrap(), Ok(()));
        assert_eq!(
            a.ask(ExpireSilence(id), ASK).await.unwrap(),
            Ok(()),
            "expiring an expired silence is a no-op"
        );
        assert!(matches!(
            a.ask(ExpireSilence("nope".into()), ASK).await.unwrap(),
            Err(SilenceError::NotFound(_))
        ));
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(taken(&sent).len(), 1);
    });
}

#[test]
fn groups_collect_alerts_and_repeat_only_after_repeat_interval() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut s = settings(vec![
            rule("Slow", Duration::ZERO),
            rule("Slower", Duration::ZERO),
        ]);
        s.group_by = vec!["monitor".into()];
        // One tier: this test is about grouping, not escalation.
        s.escalation.tiers.clear();
        let (a, sent) = tree(&h, s);
        observe(&h, &a, vec![Some(0.2), None]).await;
        h.advance(Duration::from_secs(10)).await;
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        h.advance(Duration::from_secs(20)).await;
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1, "one group, one notification");
        assert_eq!(n[0].alerts.len(), 2);
        assert_eq!(
            n[0].group_labels,
            BTreeMap::from([("monitor".to_owned(), "search".to_owned())])
        );
        // Unchanged: nothing until repeat_interval.
        h.advance(Duration::from_secs(3600)).await;
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        assert!(taken(&sent).is_empty());
        h.advance(Duration::from_secs(3 * 3600)).await;
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        assert_eq!(taken(&sent).len(), 1, "repeated after 4 h");
        // A change waits for group_interval.
        observe(&h, &a, vec![Some(0.7), Some(0.2)]).await;
        let early = taken(&sent);
        assert!(early.is_empty(), "{early:#?}");
        h.advance(Duration::from_secs(300)).await;
        observe(&h, &a, vec![Some(0.7), Some(0.2)]).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1);
        assert_eq!(
            n[0].alerts.len(),
            2,
            "the critical replaces the inhibited warning: {:?}",
            names(&n[0])
        );
    });
}

#[test]
fn unacknowledged_alerts_escalate_to_the_next_tier_and_acknowledged_ones_do_not() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (a, sent) = tree(
            &h,
            settings(vec![rule("A", Duration::ZERO), rule("B", Duration::ZERO)]),
        );
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        assert!(taken(&sent).iter().all(|n| n.channel == "log"));
        let b = a
            .ask(GetAlerts, ASK)
            .await
            .unwrap()
            .into_iter()
            .find(|x| x.labels["alertname"] == "B")
            .unwrap();
        a.ask(
            Acknowledge {
                fingerprint: b.fingerprint,
                by: "ana".into(),
            },
            ASK,
        )
        .await
        .unwrap()
        .unwrap();
        assert!(a
            .ask(
                Acknowledge {
                    fingerprint: 42,
                    by: "ana".into()
                },
                ASK
            )
            .await
            .unwrap()
            .is_err());
        h.advance(Duration::from_secs(900)).await;
        observe(&h, &a, vec![Some(0.2), Some(0.2)]).await;
        let n = taken(&sent);
        let paged: Vec<_> = n.iter().filter(|n| n.channel == "pager").collect();
        assert_eq!(paged.len(), 1, "{n:#?}");
        assert_eq!(names(paged[0]), ["A/warning"]);
        let alerts = a.ask(GetAlerts, ASK).await.unwrap();
        let tier = |name: &str| {
            alerts
                .iter()
                .find(|x| x.labels["alertname"] == name)
                .unwrap()
                .tier
        };
        assert_eq!((tier("A"), tier("B")), (1, 0));
        // Resolution reaches every tier the alert reached.
        observe(&h, &a, vec![Some(0.0), Some(0.2)]).await;
        let n = taken(&sent);
        let resolved: Vec<&str> = n
            .iter()
            .filter(|n| n.status == AlertStatus::Resolved)
            .map(|n| n.channel.as_str())
            .collect();
        assert_eq!(resolved, ["log", "pager"]);
    });
}

#[test]
fn rate_limits_fold_the_overflow_into_one_summary() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let rules: Vec<_> = (0..5)
            .map(|i| rule(&format!("R{i}"), Duration::ZERO))
            .collect();
        let mut s = settings(rules);
        s.rate_limit = RateLimitConfig {
            per_minute: 2,
            per_hour: 100,
        };
        let (a, sent) = tree(&h, s);
        observe(&h, &a, vec![Some(0.2); 5]).await;
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.2); 5]).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 2, "two per minute");
        assert_eq!(
            a.ask(GetAlertingStatus, ASK).await.unwrap().rate_limited["log"],
            3
        );
        h.advance(Duration::from_secs(61)).await;
        observe(&h, &a, vec![Some(0.2); 5]).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1, "one summary, not three notifications: {n:#?}");
        let summary = n[0].summary.as_deref().unwrap();
        assert!(
            summary.starts_with("3 notifications were held back by the rate limit"),
            "{summary}"
        );
        // It carries the alerts held back, so a receiver of Alertmanager's payload sees which.
        assert_eq!(n[0].status, AlertStatus::Firing);
        let mut held = names(&n[0]);
        held.sort();
        assert_eq!(
            held,
            ["R2/warning", "R3/warning", "R4/warning"],
            "{summary}"
        );
        assert!(summary.ends_with("alerts: R2, R3, R4"), "{summary}");
    });
}

#[test]
fn an_alert_that_flaps_is_not_notified_again_within_the_suppression_window() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut s = settings(vec![rule("Flappy", Duration::ZERO)]);
        s.group_wait = Duration::ZERO;
        let (a, sent) = tree(&h, s);
        observe(&h, &a, vec![Some(0.2)]).await;
        observe(&h, &a, vec![Some(0.0)]).await;
        assert_eq!(taken(&sent).len(), 2, "firing and resolved");
        h.advance(Duration::from_secs(60)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(
            a.ask(GetAlerts, ASK).await.unwrap()[0].state,
            AlertState::Firing
        );
        assert!(
            taken(&sent).is_empty(),
            "fired again 1 min after resolving: held"
        );
        h.advance(Duration::from_secs(301)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(
            taken(&sent).len(),
            1,
            "still firing after the window: notified"
        );
    });
}

#[test]
fn active_alerts_survive_a_restart_of_the_alerting_actor() {
    harness::run(SupervisorConfig::default(), |mut h: Harness| async move {
        let (a, sent) = tree(&h, settings(vec![rule("SearchSlow", Duration::ZERO)]));
        observe(&h, &a, vec![Some(0.2)]).await;
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(taken(&sent).len(), 1);
        let _ = a.ask(InjectPanic, ASK).await;
        h.expect_event("alerting restarted", ASK, |e| matches!(e, SupervisionEvent::ChildStarted { child, restarts: 1, .. } if &**child == "alerting")).await;
        let alerts = a.ask(GetAlerts, ASK).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].state, AlertState::Firing);
        observe(&h, &a, vec![Some(0.0)]).await;
        let n = taken(&sent);
        assert_eq!(
            (n.len(), n[0].status),
            (1, AlertStatus::Resolved),
            "the resolved notice still goes out"
        );
    });
}

#[test]
fn history_is_bounded() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut s = settings(vec![rule("Blip", Duration::ZERO)]);
        s.history_limit = 3;
        s.suppression_window = Duration::ZERO;
        let (a, _sent) = tree(&h, s);
        for _ in 0..10 {
            observe(&h, &a, vec![Some(0.2)]).await;
            observe(&h, &a, vec![Some(0.0)]).await;
        }
        assert_eq!(a.ask(GetAlertHistory, ASK).await.unwrap().len(), 3);
        assert_eq!(a.ask(GetAlertingStatus, ASK).await.unwrap().fired_total, 10);
    });
}

#[test]
fn alertmanager_gets_firing_alerts_again_every_resend_interval_and_resolved_ones_once() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut s = settings(vec![rule("SearchSlow", Duration::ZERO)]);
        s.channels.alertmanager.enabled = true;
        s.channels.alertmanager.resend_interval = MIN;
        s.escalation.tiers.clear();
        let (a, sent) = tree(&h, s);
        let to_am = |n: Vec<Notification>| {
            n.into_iter()
                .filter(|n| n.channel == "alertmanager")
                .collect::<Vec<_>>()
        };
        observe(&h, &a, vec![Some(0.2)]).await;
        let first = to_am(taken(&sent));
        assert_eq!(first.len(), 1, "sent at once, without group_wait");
        assert_eq!(first[0].alerts[0].status, AlertStatus::Firing);
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert!(
            to_am(taken(&sent)).is_empty(),
            "not before the resend interval"
        );
        h.advance(Duration::from_secs(31)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        assert_eq!(to_am(taken(&sent)).len(), 1, "re-sent after a minute");
        observe(&h, &a, vec![Some(0.0)]).await;
        let resolved = to_am(taken(&sent));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].alerts[0].status, AlertStatus::Resolved);
        assert!(resolved[0].alerts[0].ends_at.is_some());
        h.advance(Duration::from_secs(120)).await;
        observe(&h, &a, vec![Some(0.0)]).await;
        assert!(
            to_am(taken(&sent)).is_empty(),
            "a resolved alert is sent once"
        );
    });
}

/// A detection rule on the search monitor's p99 with only a warning threshold.
fn detection_rule(name: &str, kind: RuleKind, warning: f64) -> AlertRule {
    AlertRule {
        kind,
        warning: Some(warning),
        ..AlertRule::new(name, Some("search"), Metric::P99)
    }
}

/// Firing alert payloads named `name` in `sent`.
fn firing_payloads(sent: &[Notification], name: &str) -> Vec<AlertPayload> {
    sent.iter()
        .flat_map(|n| &n.alerts)
        .filter(|a| a.labels["alertname"] == name && a.status == AlertStatus::Firing)
        .cloned()
        .collect()
}

#[test]
fn a_step_change_in_latency_raises_one_regression_alert_with_its_evidence() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut r = detection_rule("SearchRegressed", RuleKind::Regression, 0.8);
        r.regression = RegressionSettings {
            reference: 60,
            recent: 20,
            max_p_value: 0.001,
            stable_p_value: 0.05,
        };
        let (a, sent) = tree(&h, settings(vec![r]));
        let mut jitter = common::noise(7);
        // 10 ms ± 1 ms for 100 evaluations: the baseline fills and nothing fires.
        for _ in 0..100 {
            observe(&h, &a, vec![Some(0.010 + 0.002 * jitter())]).await;
            h.advance(Duration::from_secs(10)).await;
        }
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
        // Then 13 ms ± 1 ms.
        let mut fired_after = None;
        for i in 0..150 {
            observe(&h, &a, vec![Some(0.013 + 0.002 * jitter())]).await;
            h.advance(Duration::from_secs(10)).await;
            if fired_after.is_none()
                && a.ask(GetAlerts, ASK)
                    .await
                    .unwrap()
                    .iter()
                    .any(|x| x.state == AlertState::Firing)
            {
                fired_after = Some(i + 1);
            }
        }
        let fired_after = fired_after.expect("the regression fired");
        assert!(
            fired_after <= 12,
            "fired after {fired_after} slow evaluations"
        );
        let status = a.ask(GetAlertingStatus, ASK).await.unwrap();
        assert_eq!(
            status.fired_total, 1,
            "one alert, not one per evaluation; the baseline did not absorb the new level"
        );
        let firing = firing_payloads(&taken(&sent), "SearchRegressed");
        let evidence = &firing.first().expect("notified").annotations;
        let number = |k: &str| -> f64 {
            evidence[k]
                .trim_end_matches('%')
                .parse()
                .unwrap_or_else(|_| panic!("{k}: {evidence:?}"))
        };
        assert!(number("p_value") <= 0.001, "{evidence:?}");
        assert!(number("mann_whitney_p_value") <= 0.001, "{evidence:?}");
        assert!(number("effect_size") >= 0.8, "{evidence:?}");
        assert!(
            (number("baseline_mean") - 0.010).abs() < 0.0005,
            "{evidence:?}"
        );
        // Notified while the recent window still holds some values from before the step.
        assert!(number("recent_mean") > 0.0105, "{evidence:?}");
        assert!(number("change") > 5.0, "{evidence:?}");
        assert_eq!(evidence["samples"], "60 baseline, 20 recent");
        // Back to 10 ms: the regression resolves.
        for _ in 0..40 {
            observe(&h, &a, vec![Some(0.010 + 0.002 * jitter())]).await;
            h.advance(Duration::from_secs(10)).await;
        }
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
        assert_eq!(a.ask(GetAlertingStatus, ASK).await.unwrap().fired_total, 1);
    });
}

#[test]
fn a_slow_drift_raises_a_trend_alert_before_the_threshold_is_crossed() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut trend = detection_rule("SearchDrifting", RuleKind::Trend, 0.5);
        trend.trend = TrendSettings {
            points: 30,
            horizon: Duration::from_secs(3600),
            min_r_squared: 0.6,
        };
        let limit = detection_rule("SearchSlow", RuleKind::Threshold, 0.5);
        let (a, sent) = tree(&h, settings(vec![trend, limit]));
        let mut jitter = common::noise(11);
        // Flat at 100 ms ± 5 ms for 50 evaluations 10 s apart: no trend.
        for _ in 0..50 {
            observe(&h, &a, vec![Some(0.1 + 0.01 * jitter()); 2]).await;
            h.advance(Duration::from_secs(10)).await;
        }
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
        // Then rising 0.5 ms every 10 s (180 ms an hour) toward the 500 ms limit.
        let mut latency = 0.1;
        let mut trend_fired_at = None;
        for _ in 0..1000 {
            latency += 0.0005;
            observe(&h, &a, vec![Some(latency + 0.01 * jitter()); 2]).await;
            h.advance(Duration::from_secs(10)).await;
            let alerts = a.ask(GetAlerts, ASK).await.unwrap();
            let firing = |name: &str| {
                alerts
                    .iter()
                    .any(|x| x.labels["alertname"] == name && x.state == AlertState::Firing)
            };
            if trend_fired_at.is_none() && firing("SearchDrifting") {
                assert!(!firing("SearchSlow"), "the trend alert came first");
                trend_fired_at = Some(latency);
            }
            if firing("SearchSlow") {
                break;
            }
        }
        let at = trend_fired_at.expect("the trend alert fired");
        assert!(
            (0.2..0.5).contains(&at),
            "fired at {at} s: while rising, and before 500 ms"
        );
        let firing = firing_payloads(&taken(&sent), "SearchDrifting");
        let evidence = &firing.first().expect("notified").annotations;
        let secs: f64 = evidence["crosses_in"]
            .trim_end_matches('s')
            .parse()
            .unwrap();
        assert!((0.0..=3600.0).contains(&secs), "{evidence:?}");
        let r2: f64 = evidence["r_squared"].parse().unwrap();
        assert!(r2 >= 0.6, "{evidence:?}");
        let forecast: f64 = evidence["forecast"].parse().unwrap();
        assert!(forecast > 0.5, "{evidence:?}");
    });
}

#[test]
fn a_single_spike_raises_one_anomaly_alert_not_one_per_sample() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        // The detector's default settings (the one configuration), the recommended threshold.
        let mut r = detection_rule("SearchAnomalous", RuleKind::Anomaly, ALERT_THRESHOLD);
        // Long enough to outlast the group wait, so the event is notified.
        r.keep_firing_for = Duration::from_secs(60);
        let (a, sent) = tree(&h, settings(vec![r]));
        let mut jitter = common::noise(3);
        let mut all = Vec::new();
        let mut firing_evaluations = 0;
        for i in 0..400 {
            let spike = if (250..253).contains(&i) { 0.1 } else { 0.0 };
            observe(&h, &a, vec![Some(0.010 + 0.002 * jitter() + spike)]).await;
            h.advance(Duration::from_secs(10)).await;
            let alerts = a.ask(GetAlerts, ASK).await.unwrap();
            if alerts.iter().any(|x| x.state == AlertState::Firing) {
                assert!((250..253).contains(&i), "fired at {i}, outside the spike");
                firing_evaluations += 1;
            }
            all.extend(taken(&sent));
        }
        assert_eq!(
            firing_evaluations, 1,
            "the detection holds the next scores down"
        );
        let firing = firing_payloads(&all, "SearchAnomalous");
        assert_eq!(firing.len(), 1, "one notification for the spike");
        let evidence = &firing[0].annotations;
        let number = |name: &str| -> f64 {
            evidence[name]
                .parse()
                .unwrap_or_else(|e| panic!("{name}: {e} in {evidence:?}"))
        };
        assert!(number("anomaly_score") >= ALERT_THRESHOLD, "{evidence:?}");
        assert!(number("observed") > 0.1, "{evidence:?}");
        // What was expected: a value like the others, inside the range seen before the spike.
        assert!((0.008..0.012).contains(&number("expected")), "{evidence:?}");
        let (lo, hi) = evidence["seen_range"].split_once("..").unwrap();
        let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        assert!(lo >= 0.008 && hi <= 0.012 && lo < hi, "{evidence:?}");
        assert!((0.0..=1.0).contains(&number("fine_rank")), "{evidence:?}");
        assert!(
            evidence["reason"].contains("beyond the range"),
            "{evidence:?}"
        );
        let status = a.ask(GetAlertingStatus, ASK).await.unwrap();
        assert_eq!((status.fired_total, status.active_alerts), (1, 0));
    });
}

#[test]
fn a_noisy_series_at_the_recommended_threshold_stays_quiet_for_a_simulated_day() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let r = detection_rule("SearchAnomalous", RuleKind::Anomaly, ALERT_THRESHOLD);
        let (a, sent) = tree(&h, settings(vec![r]));
        // Latency around 10 ms, ±2 ms of noise, evaluated every 10 s (the default) for a day.
        let mut jitter = common::noise(11);
        let day = 86_400 / 10;
        let mut top: f64 = 0.0;
        for _ in 0..day {
            observe(&h, &a, vec![Some(0.010 + 0.004 * jitter())]).await;
            h.advance(Duration::from_secs(10)).await;
            let status = a.ask(GetAlertingStatus, ASK).await.unwrap();
            assert_eq!(status.fired_total, 0, "highest score so far {top}");
            top = status.rule_values.iter().fold(top, |t, v| t.max(v.value));
        }
        assert!(firing_payloads(&taken(&sent), "SearchAnomalous").is_empty());
        // Not quiet because the detector is asleep: the noise does reach the top ranks.
        assert!(top > 0.99, "highest score {top}");
    });
}

/// A post with the labels of a rule's alert stays the post's while the rule does not breach; once
/// it does, the alert is the rule's: it no longer ends with its post, and neither a later post nor
/// an actor's clear can end it. An actor's alert with a rule's labels stays the actor's.
#[test]
fn a_breaching_rule_takes_over_an_alert_posted_with_its_labels_but_not_an_actors() {
    use watchkeeper_actors::alerting::{AlertSeverity, PostAlerts, PostedAlert, SetExternalAlert};
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let slow = rule("SearchSlow", Duration::ZERO);
        let labels = slow.alert_labels(AlertSeverity::Warning);
        let (a, _) = tree(&h, settings(vec![slow]));
        let now = chrono::Utc::now();
        let post = |ends_at: chrono::DateTime<chrono::Utc>| PostAlerts {
            alerts: vec![PostedAlert {
                labels: labels.clone(),
                annotations: BTreeMap::new(),
                starts_at: None,
                ends_at: Some(ends_at),
                generator_url: String::new(),
            }],
            resolve_timeout: Duration::from_secs(300),
        };
        // an actor raising or clearing an alert with the rule's labels
        let actor = |firing: bool| SetExternalAlert {
            name: "SearchSlow".into(),
            severity: AlertSeverity::Warning,
            labels: BTreeMap::from([("monitor".into(), "search".into())]),
            annotations: BTreeMap::new(),
            value: None,
            threshold: 0.0,
            firing,
        };
        let only = || async {
            let mut alerts = a.ask(GetAlerts, ASK).await.unwrap();
            assert_eq!(alerts.len(), 1, "{alerts:?}");
            alerts.remove(0)
        };
        let soon = now + chrono::Duration::hours(1);
        a.ask(post(soon), ASK).await.unwrap().unwrap();
        let posted = only().await;
        assert_eq!(
            (posted.rule.as_deref(), posted.expires_at),
            (None, Some(soon))
        );
        // the rule below its threshold leaves the post alone
        observe(&h, &a, vec![Some(0.01)]).await;
        let still = only().await;
        assert_eq!(
            (still.rule.as_deref(), still.expires_at, still.state),
            (None, Some(soon), AlertState::Firing)
        );

        h.advance(Duration::from_secs(10)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        let taken_over = only().await;
        assert_eq!(taken_over.fingerprint, posted.fingerprint);
        assert_eq!(
            (
                taken_over.rule.as_deref(),
                taken_over.expires_at,
                taken_over.state,
                taken_over.threshold
            ),
            (Some("SearchSlow"), None, AlertState::Firing, 0.1)
        );
        let refused = a
            .ask(post(now - chrono::Duration::minutes(1)), ASK)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            refused,
            ["alert 0: rule \"SearchSlow\" raises an alert with these labels; a post cannot change it"]
        );
        assert_eq!(only().await.state, AlertState::Firing);
        a.ask(actor(false), ASK).await.unwrap();
        assert_eq!(only().await.state, AlertState::Firing);
        // the rule ends it
        h.advance(Duration::from_secs(10)).await;
        observe(&h, &a, vec![Some(0.01)]).await;
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());

        // raised by an actor, the alert stays the actor's while the rule breaches, and ends when
        // the actor clears it
        a.ask(actor(true), ASK).await.unwrap();
        h.advance(Duration::from_secs(10)).await;
        observe(&h, &a, vec![Some(0.2)]).await;
        let actors = only().await;
        assert_eq!(
            (actors.rule.as_deref(), actors.expires_at),
            (None, None),
            "{actors:?}"
        );
        a.ask(actor(false), ASK).await.unwrap();
        assert!(a.ask(GetAlerts, ASK).await.unwrap().is_empty());
    });
}

/// An alert an actor raised resolves as a saved state is restored (a new process's actors start
/// afresh); the actor raising it again before the alerting actor next applies its state fires it
/// again rather than losing it with the resolved one.
#[test]
fn an_actors_alert_resolved_on_restore_fires_again_when_the_actor_raises_it() {
    use watchkeeper_actors::alerting::{AlertSeverity, AlertingState, SetExternalAlert};
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let (a, _, store) = tree_and_store(&h, settings(vec![]));
        let raise = || SetExternalAlert {
            name: "MemoryOverLimit".into(),
            severity: AlertSeverity::Critical,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            value: Some(2.0),
            threshold: 1.0,
            firing: true,
        };
        a.ask(raise(), ASK).await.unwrap();
        // the state as a new process reads it back
        let saved = store.lock().saved();
        *store.lock() = AlertingState::restored(saved);
        a.ask(raise(), ASK).await.unwrap();
        let alerts = a.ask(GetAlerts, ASK).await.unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].state, AlertState::Firing, "{:?}", alerts[0]);
    });
}

/// Whether `target` is muted under `rule` while `sources` are posted (firing unless marked
/// resolved), through a fresh alerting actor.
async fn inhibited(
    h: &Harness,
    rule: watchkeeper_actors::alerting::InhibitRule,
    sources: &[(&[(&str, &str)], bool)],
    target: &[(&str, &str)],
) -> bool {
    use watchkeeper_actors::alerting::{PostAlerts, PostedAlert};
    let mut s = settings(vec![]);
    s.inhibit_rules = vec![rule];
    let (a, _) = tree(h, s);
    let now = chrono::Utc::now();
    let post = |labels: &[(&str, &str)], firing: bool| PostedAlert {
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        annotations: BTreeMap::new(),
        starts_at: Some(now - chrono::Duration::minutes(10)),
        ends_at: Some(if firing {
            now + chrono::Duration::hours(1)
        } else {
            now - chrono::Duration::minutes(1)
        }),
        generator_url: String::new(),
    };
    let mut alerts: Vec<PostedAlert> = sources.iter().map(|(l, f)| post(l, *f)).collect();
    alerts.push(post(target, true));
    let posted = PostAlerts {
        alerts,
        resolve_timeout: Duration::from_secs(300),
    };
    a.ask(posted, ASK).await.unwrap().unwrap();
    let fp = watchkeeper_actors::alerting::fingerprint(
        &target
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let alerts = a.ask(GetAlerts, ASK).await.unwrap();
    alerts
        .iter()
        .find(|x| x.fingerprint == fp)
        .map(|x| x.inhibited)
        .unwrap_or(false)
}

#[test]
fn inhibition_rules_follow_alertmanagers_cases() {
    use watchkeeper_actors::alerting::InhibitRule;
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let rule = |source: &str, target: &str, equal: &[&str]| InhibitRule {
            source_matchers: Matcher::parse_list(source).unwrap(),
            target_matchers: Matcher::parse_list(target).unwrap(),
            equal: equal.iter().map(|s| (*s).to_owned()).collect(),
        };
        let r1 = rule("s=\"1\"", "t=\"1\"", &["e"]);
        // (case, rule, sources with whether each fires, target, muted)
        type Labels<'a> = &'a [(&'a str, &'a str)];
        type Case<'a> = (
            &'a str,
            InhibitRule,
            Vec<(Labels<'a>, bool)>,
            Labels<'a>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "I1 no source",
                r1.clone(),
                vec![],
                &[("t", "1"), ("e", "f")],
                false,
            ),
            (
                "I2 a firing source",
                r1.clone(),
                vec![(&[("s", "1"), ("e", "f")], true)],
                &[("t", "1"), ("e", "f")],
                true,
            ),
            (
                "I3 a resolved source",
                r1.clone(),
                vec![(&[("s", "1"), ("e", "f")], false)],
                &[("t", "1"), ("e", "f")],
                false,
            ),
            (
                "I8 the equal label differs",
                r1.clone(),
                vec![(&[("s", "1"), ("e", "f")], true)],
                &[("t", "1"), ("e", "g")],
                false,
            ),
            (
                "I6 extra labels do not matter",
                rule("s1=\"1\"", "t1=\"1\"", &["e"]),
                vec![(&[("s1", "1"), ("t1", "2"), ("e", "1")], true)],
                &[("t1", "1"), ("t3", "1"), ("e", "1")],
                true,
            ),
            (
                "I9 the target matches both sides, the source only one",
                rule("s1=\"1\"", "t1=\"1\"", &["e"]),
                vec![(&[("s1", "1"), ("t1", "2"), ("e", "1")], true)],
                &[("s1", "1"), ("t1", "1"), ("e", "1")],
                true,
            ),
            (
                "I10 both match both sides: no self-inhibition",
                rule("s2=\"1\"", "t2=\"1\"", &["e"]),
                vec![(&[("s2", "1"), ("t2", "1"), ("e", "1"), ("x", "a")], true)],
                &[("s2", "1"), ("t2", "1"), ("e", "1")],
                false,
            ),
            (
                "I14 a missing label passes !=",
                rule("s1=\"1\"", "t1!=\"1\"", &["e"]),
                vec![(&[("s1", "1"), ("t1", "2"), ("e", "1")], true)],
                &[("s2", "1"), ("t2", "1"), ("e", "1")],
                true,
            ),
            (
                "I17 no equal labels",
                rule("s=\"1\"", "t=\"1\"", &[]),
                vec![(&[("s", "1"), ("e", "x")], true)],
                &[("t", "1"), ("e", "y")],
                true,
            ),
            (
                "I18 missing on both sides counts as equal",
                rule(
                    "severity=\"critical\"",
                    "severity=\"warning\"",
                    &["alertname", "cluster", "service"],
                ),
                vec![(
                    &[
                        ("alertname", "Lat"),
                        ("severity", "critical"),
                        ("service", "api"),
                    ],
                    true,
                )],
                &[
                    ("alertname", "Lat"),
                    ("severity", "warning"),
                    ("service", "api"),
                ],
                true,
            ),
            (
                "I19",
                rule(
                    "severity=\"critical\"",
                    "severity=\"warning\"",
                    &["alertname", "cluster", "service"],
                ),
                vec![(
                    &[
                        ("alertname", "Lat"),
                        ("severity", "critical"),
                        ("service", "api"),
                    ],
                    true,
                )],
                &[
                    ("alertname", "Lat"),
                    ("severity", "warning"),
                    ("service", "web"),
                ],
                false,
            ),
        ];
        for (case, rule, sources, target, muted) in cases {
            assert_eq!(inhibited(&h, rule, &sources, target).await, muted, "{case}");
        }
    });
}

/// Deduplication as Alertmanager's notification log has it: only a firing alert the receivers were
/// not told of is news. A group whose firing set shrinks (one alert silenced, one resolved) waits
/// for `repeat_interval` like an unchanged one; an alert told resolved that fires again is news.
#[test]
fn a_group_whose_firing_set_shrinks_is_not_notified_again_before_the_repeat() {
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut s = settings(vec![
            rule("Slow", Duration::ZERO),
            rule("Slower", Duration::ZERO),
            rule("Slowest", Duration::ZERO),
        ]);
        s.group_by = vec!["monitor".into()];
        s.escalation.tiers.clear();
        s.suppression_window = Duration::ZERO;
        let (a, sent) = tree(&h, s);
        let all = vec![Some(0.2), Some(0.2), Some(0.2)];
        observe(&h, &a, all.clone()).await;
        h.advance(Duration::from_secs(30)).await;
        observe(&h, &a, all.clone()).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1, "one group, one notification");
        assert_eq!(n[0].alerts.len(), 3);

        // One silenced: the other two are not told again at the group interval.
        let now = chrono::Utc::now();
        a.ask(
            AddSilence(Silence {
                id: String::new(),
                matchers: vec![Matcher::equal("alertname", "Slowest")],
                starts_at: now - chrono::Duration::minutes(1),
                ends_at: now + chrono::Duration::hours(10),
                created_by: "oncall".into(),
                comment: "known".into(),
                updated_at: now,
            }),
            ASK,
        )
        .await
        .unwrap()
        .unwrap();
        observe(&h, &a, all.clone()).await;
        h.advance(Duration::from_secs(300)).await;
        observe(&h, &a, all.clone()).await;
        let n = taken(&sent);
        assert!(
            n.is_empty(),
            "after a silence: {:?}",
            n.iter().map(names).collect::<Vec<_>>()
        );

        // One resolved: its resolved notice goes out at once, and nothing else.
        let one_resolved = vec![Some(0.2), Some(0.01), Some(0.2)];
        observe(&h, &a, one_resolved.clone()).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].status, AlertStatus::Resolved);
        assert_eq!(names(&n[0]), ["Slower/warning"]);
        h.advance(Duration::from_secs(300)).await;
        observe(&h, &a, one_resolved).await;
        let n = taken(&sent);
        assert!(
            n.is_empty(),
            "after a resolution: {:?}",
            n.iter().map(names).collect::<Vec<_>>()
        );

        // It fires again: news, told with the rest (the group interval has passed since the
        // last notification).
        observe(&h, &a, all.clone()).await;
        let n = taken(&sent);
        assert_eq!(n.len(), 1, "{:?}", n.iter().map(names).collect::<Vec<_>>());
        let mut told = names(&n[0]);
        told.sort();
        assert_eq!(told, ["Slow/warning", "Slower/warning"]);

        // Unchanged: told again only after the repeat interval.
        h.advance(Duration::from_secs(4 * 3600 - 1)).await;
        observe(&h, &a, all.clone()).await;
        let n = taken(&sent);
        assert!(
            n.is_empty(),
            "{:?}",
            n.iter().map(|n| (names(n), n.status)).collect::<Vec<_>>()
        );
        h.advance(Duration::from_secs(1)).await;
        observe(&h, &a, all).await;
        assert_eq!(taken(&sent).len(), 1);
    });
}

/// `keep_firing_for` counts from the first value that no longer breached, through a gap in the
/// data, as Prometheus counts it.
#[test]
fn keep_firing_for_counts_from_the_first_non_breaching_evaluation_through_a_data_gap() {
    // Prometheus (rules/alerting.go:490-496): KeepFiringSince is set at the first evaluation without
    // the breach and only a new breach resets it (line 522). The README: Recovering lasts "for
    // `keep_firing_for`". watchkeeper restarts the clock when a value returns after NoData.
    harness::run(SupervisorConfig::default(), |h: Harness| async move {
        let mut r = rule("SearchSlow", Duration::ZERO);
        r.keep_firing_for = Duration::from_secs(120);
        let (a, _sent) = tree(&h, settings(vec![r]));
        observe(&h, &a, vec![Some(0.2)]).await;
        observe(&h, &a, vec![Some(0.01)]).await; // t = 0: recovering
        h.advance(Duration::from_secs(60)).await;
        observe(&h, &a, vec![None]).await; // t = 60: one evaluation without data
        h.advance(Duration::from_secs(10)).await;
        observe(&h, &a, vec![Some(0.01)]).await; // t = 70: still below the threshold
        h.advance(Duration::from_secs(60)).await;
        observe(&h, &a, vec![Some(0.01)]).await; // t = 130: 130 s without a breach
        let alerts = a.ask(GetAlerts, ASK).await.unwrap();
        assert!(
            alerts.is_empty(),
            "130 s after the breach ended, keep_firing_for = 120 s has passed, yet: {:?}",
            alerts.iter().map(|a| a.state).collect::<Vec<_>>()
        );
    });
}
