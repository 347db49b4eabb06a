//! The routing tree against the cases Alertmanager's documentation and routing tests specify (its
//! `dispatch/route_test.go` trees, `doc/examples/simple.yml`, and the `<route>` example of its
//! configuration docs), written afresh as RON and checked case by case: which routes an alert
//! reaches, in which order, with which receiver, grouping and timers, under which route key. Then
//! inhibition rules against Alertmanager's inhibition cases.

use std::collections::BTreeMap;
use std::time::Duration;

use watchkeeper::actors::alerting::{GroupBy, Route};
use watchkeeper::Config;

fn tree(alerting: &str) -> Route {
    let c = Config::from_ron(&format!("(alerting: {alerting})"))
        .unwrap_or_else(|e| panic!("{e}\n{alerting}"));
    c.alerting.route_tree()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

struct Expect {
    receiver: &'static str,
    group_by: Option<&'static [&'static str]>,
    timers: (u64, u64, u64),
    key: Option<&'static str>,
}

const fn expect(
    receiver: &'static str,
    group_by: Option<&'static [&'static str]>,
    timers: (u64, u64, u64),
    key: Option<&'static str>,
) -> Expect {
    Expect {
        receiver,
        group_by,
        timers,
        key,
    }
}

/// `None` group_by means "every label" (`...`).
fn check(tree: &Route, case: &str, input: &[(&str, &str)], expected: &[Expect]) {
    let found = tree.matching(&labels(input));
    assert_eq!(
        found.len(),
        expected.len(),
        "{case}: {input:?} reached {:?}",
        found.iter().map(|r| &r.key).collect::<Vec<_>>()
    );
    for (route, e) in found.iter().zip(expected) {
        assert_eq!(route.receivers(), [e.receiver.to_owned()], "{case}");
        let group_by = match &route.group_by {
            GroupBy::All => None,
            GroupBy::Labels(l) => Some(l.clone()),
        };
        assert_eq!(
            group_by,
            e.group_by
                .map(|g| g.iter().map(|s| (*s).to_owned()).collect()),
            "{case}: group_by"
        );
        let secs = Duration::from_secs;
        assert_eq!(
            (
                route.group_wait,
                route.group_interval,
                route.repeat_interval
            ),
            (secs(e.timers.0), secs(e.timers.1), secs(e.timers.2)),
            "{case}: timers"
        );
        if let Some(key) = e.key {
            assert_eq!(route.key, key, "{case}: route key");
        }
    }
}

const DEF: (u64, u64, u64) = (30, 300, 14_400);

/// Alertmanager's `TestRouteMatchers` tree (matchers syntax, so the route keys are its own).
const T2: &str = r#"(
    receiver: "notify-def",
    group_by: [],
    group_wait: "30s", group_interval: "5m", repeat_interval: "4h",
    routes: [
        (
            matchers: ["owner=\"team-A\"", "level!=\"critical\""],
            receiver: "notify-A",
            routes: [
                (matchers: ["env=\"testing\"", "baz!~\".*quux\""], receiver: "notify-testing", group_by: ["..."]),
                (matchers: ["env=\"production\""], receiver: "notify-productionA", group_wait: "1m", continue: true),
                (
                    matchers: ["env=~\"produ.*\"", "job=~\".*\""],
                    receiver: "notify-productionB",
                    group_wait: "30s", group_interval: "5m", repeat_interval: "1h",
                    group_by: ["job"],
                ),
            ],
        ),
        (matchers: ["owner=~\"team-(B|C)\""], group_by: ["foo", "bar"], group_wait: "2m", receiver: "notify-BC"),
        (
            matchers: ["group_by=\"role\""],
            group_by: ["role"],
            routes: [
                (
                    matchers: ["env=\"testing\""],
                    receiver: "notify-testing",
                    routes: [(matchers: ["wait=\"long\""], group_wait: "2m")],
                ),
            ],
        ),
    ],
)"#;

#[test]
fn alertmanagers_route_matchers_tree() {
    let t = tree(T2);
    let a = "{}/{level!=\"critical\",owner=\"team-A\"}";
    check(
        &t,
        "R1/R12 no child matches: the node itself",
        &[("owner", "team-A")],
        &[expect("notify-A", Some(&[]), DEF, Some(a))],
    );
    check(
        &t,
        "R2 an unset env",
        &[("owner", "team-A"), ("env", "unset")],
        &[expect("notify-A", Some(&[]), DEF, Some(a))],
    );
    check(
        &t,
        "R3/R14 regex route, not anchored in the key",
        &[("owner", "team-C")],
        &[expect(
            "notify-BC",
            Some(&["foo", "bar"]),
            (120, 300, 14_400),
            Some("{}/{owner=~\"team-(B|C)\"}"),
        )],
    );
    check(
        &t,
        "R4/R13 group by every label; a missing baz does not match .*quux",
        &[("owner", "team-A"), ("env", "testing")],
        &[expect(
            "notify-testing",
            None,
            DEF,
            Some("{}/{level!=\"critical\",owner=\"team-A\"}/{baz!~\".*quux\",env=\"testing\"}"),
        )],
    );
    check(
        &t,
        "R5/R15 continue: two routes, in order; a missing job matches .*",
        &[("owner", "team-A"), ("env", "production")],
        &[
            expect("notify-productionA", Some(&[]), (60, 300, 14_400), None),
            expect(
                "notify-productionB",
                Some(&["job"]),
                (30, 300, 3600),
                Some("{}/{level!=\"critical\",owner=\"team-A\"}/{env=~\"produ.*\",job=~\".*\"}"),
            ),
        ],
    );
    check(
        &t,
        "R6 receiver inherited from the root",
        &[("group_by", "role")],
        &[expect(
            "notify-def",
            Some(&["role"]),
            DEF,
            Some("{}/{group_by=\"role\"}"),
        )],
    );
    check(
        &t,
        "R7 group_by inherited from the parent",
        &[("env", "testing"), ("group_by", "role")],
        &[expect("notify-testing", Some(&["role"]), DEF, None)],
    );
    check(
        &t,
        "R8 group_wait overridden three levels down",
        &[("env", "testing"), ("group_by", "role"), ("wait", "long")],
        &[expect(
            "notify-testing",
            Some(&["role"]),
            (120, 300, 14_400),
            Some("{}/{group_by=\"role\"}/{env=\"testing\"}/{wait=\"long\"}"),
        )],
    );
    check(
        &t,
        "R9 team-B skips the team-A subtree",
        &[("owner", "team-B"), ("env", "production")],
        &[expect(
            "notify-BC",
            Some(&["foo", "bar"]),
            (120, 300, 14_400),
            None,
        )],
    );
    check(
        &t,
        "R10 nothing matches: the root",
        &[("owner", "team-D")],
        &[expect("notify-def", Some(&[]), DEF, Some("{}"))],
    );
    check(
        &t,
        "R11 the regex must match the whole value",
        &[("owner", "xteam-B")],
        &[expect("notify-def", Some(&[]), DEF, None)],
    );
    check(
        &t,
        "R16 level!=critical fails",
        &[("owner", "team-A"), ("level", "critical")],
        &[expect("notify-def", Some(&[]), DEF, None)],
    );
    check(
        &t,
        "R17 the testing child fails on baz, no sibling matches, so the parent",
        &[("owner", "team-A"), ("env", "testing"), ("baz", "myquux")],
        &[expect("notify-A", Some(&[]), DEF, Some(a))],
    );
}

/// Alertmanager's `doc/examples/simple.yml` routes.
const SIMPLE: &str = r#"(
    receiver: "team-X-mails",
    group_by: ["alertname", "cluster", "service"],
    group_wait: "30s", group_interval: "5m", repeat_interval: "3h",
    routes: [
        (
            matchers: ["service=~\"foo1|foo2|baz\""],
            receiver: "team-X-mails",
            routes: [(matchers: ["severity=\"critical\""], receiver: "team-X-pager")],
        ),
        (
            matchers: ["service=\"files\""],
            receiver: "team-Y-mails",
            routes: [(matchers: ["severity=\"critical\""], receiver: "team-Y-pager")],
        ),
        (
            matchers: ["service=\"database\""],
            receiver: "team-DB-pager",
            group_by: ["alertname", "cluster", "database"],
            routes: [
                (matchers: ["owner=\"team-X\""], receiver: "team-X-pager", continue: true),
                (matchers: ["owner=\"team-Y\""], receiver: "team-Y-pager"),
            ],
        ),
    ],
)"#;

#[test]
fn alertmanagers_simple_example() {
    let t = tree(SIMPLE);
    let g: &[&str] = &["alertname", "cluster", "service"];
    let db: &[&str] = &["alertname", "cluster", "database"];
    let three = (30, 300, 10_800);
    check(
        &t,
        "R18",
        &[
            ("alertname", "Lat"),
            ("service", "foo1"),
            ("severity", "warning"),
        ],
        &[expect(
            "team-X-mails",
            Some(g),
            three,
            Some("{}/{service=~\"foo1|foo2|baz\"}"),
        )],
    );
    check(
        &t,
        "R19",
        &[("service", "baz"), ("severity", "critical")],
        &[expect(
            "team-X-pager",
            Some(g),
            three,
            Some("{}/{service=~\"foo1|foo2|baz\"}/{severity=\"critical\"}"),
        )],
    );
    check(
        &t,
        "R20",
        &[("service", "files"), ("severity", "critical")],
        &[expect("team-Y-pager", Some(g), three, None)],
    );
    check(
        &t,
        "R21",
        &[("service", "files")],
        &[expect("team-Y-mails", Some(g), three, None)],
    );
    check(
        &t,
        "R22",
        &[("service", "database")],
        &[expect("team-DB-pager", Some(db), three, None)],
    );
    check(
        &t,
        "R23 continue, a sibling that does not match, and no parent",
        &[("service", "database"), ("owner", "team-X")],
        &[expect(
            "team-X-pager",
            Some(db),
            three,
            Some("{}/{service=\"database\"}/{owner=\"team-X\"}"),
        )],
    );
    check(
        &t,
        "R24",
        &[("service", "database"), ("owner", "team-Y")],
        &[expect("team-Y-pager", Some(db), three, None)],
    );
    check(
        &t,
        "R25 no service: the root; absent group labels are left out",
        &[("alertname", "X")],
        &[expect("team-X-mails", Some(g), three, Some("{}"))],
    );
    assert_eq!(
        t.matching(&labels(&[("alertname", "X")]))[0].group_key(&labels(&[("alertname", "X")])),
        "{}:{alertname=\"X\"}"
    );
    check(
        &t,
        "R26 a partial regex match is no match",
        &[("service", "foo1baz")],
        &[expect("team-X-mails", Some(g), three, Some("{}"))],
    );
}

/// The `<route>` example of Alertmanager's configuration docs (time intervals left out: they do
/// not change matching).
const DOCS: &str = r#"(
    receiver: "default-receiver",
    group_wait: "30s", group_interval: "5m", repeat_interval: "4h",
    group_by: ["cluster", "alertname"],
    routes: [
        (receiver: "database-pager", group_wait: "10s", matchers: ["service=~\"mysql|cassandra\""]),
        (receiver: "frontend-pager", group_by: ["product", "environment"], matchers: ["team=\"frontend\""]),
        (receiver: "dev-pager", matchers: ["service=\"inhouse-service\""], continue: true),
        (receiver: "on-call-pager", matchers: ["service=\"inhouse-service\""]),
    ],
)"#;

#[test]
fn alertmanagers_configuration_docs_example() {
    let t = tree(DOCS);
    let g: &[&str] = &["cluster", "alertname"];
    let db = labels(&[("service", "mysql"), ("cluster", "c1"), ("alertname", "DB")]);
    check(
        &t,
        "R27",
        &[("service", "mysql"), ("cluster", "c1"), ("alertname", "DB")],
        &[expect("database-pager", Some(g), (10, 300, 14_400), None)],
    );
    assert_eq!(
        t.matching(&db)[0].group_key(&db),
        "{}/{service=~\"mysql|cassandra\"}:{alertname=\"DB\", cluster=\"c1\"}"
    );
    check(
        &t,
        "R28",
        &[
            ("team", "frontend"),
            ("product", "p"),
            ("environment", "prod"),
        ],
        &[expect(
            "frontend-pager",
            Some(&["product", "environment"]),
            DEF,
            None,
        )],
    );
    check(
        &t,
        "R29 continue: both pagers",
        &[("service", "inhouse-service")],
        &[
            expect("dev-pager", Some(g), DEF, None),
            expect("on-call-pager", Some(g), DEF, None),
        ],
    );
    check(
        &t,
        "R30 the first match, no continue",
        &[("service", "mysql"), ("team", "frontend")],
        &[expect("database-pager", Some(g), (10, 300, 14_400), None)],
    );
    check(
        &t,
        "R31",
        &[("service", "cassandra-2")],
        &[expect("default-receiver", Some(g), DEF, None)],
    );
}

#[test]
fn children_inherit_grouping_by_every_label_and_an_explicit_empty_group_by_overrides() {
    let t = tree(
        r#"(
        receiver: "r", group_by: ["a"],
        routes: [
            (matchers: ["env=\"parent\""], group_by: ["..."], routes: [
                (matchers: ["kind=\"one\""]),
                (matchers: ["kind=\"two\""], group_by: ["foo"]),
            ]),
            (matchers: ["x=\"1\""], group_by: []),
        ],
    )"#,
    );
    let one = labels(&[("env", "parent"), ("kind", "one"), ("b", "2")]);
    let route = t.matching(&one)[0];
    assert_eq!(route.group_by, GroupBy::All);
    assert_eq!(route.group_labels(&one), one);
    let two = labels(&[("env", "parent"), ("kind", "two")]);
    assert_eq!(
        t.matching(&two)[0].group_by,
        GroupBy::Labels(vec!["foo".into()])
    );
    let x = labels(&[("x", "1"), ("a", "2")]);
    assert_eq!(t.matching(&x)[0].group_key(&x), "{}/{x=\"1\"}:{}");
}

#[test]
fn a_route_escalates_through_its_own_tiers_or_inherits_its_parents() {
    let t = tree(
        r#"(
        receiver: "log",
        escalation: (timeout: "15m", tiers: [["email"]]),
        routes: [
            (matchers: ["severity=\"critical\""], receiver: "pager",
             escalation: (timeout: "5m", tiers: [["phone"], ["manager"]])),
            (matchers: ["severity=\"warning\""], receiver: "chat"),
        ],
    )"#,
    );
    let critical = t.matching(&labels(&[("severity", "critical")]))[0];
    assert_eq!(
        critical.tiers,
        [
            vec!["pager".to_owned()],
            vec!["phone".into()],
            vec!["manager".into()]
        ]
    );
    assert_eq!(critical.escalation_timeout, Duration::from_secs(300));
    assert_eq!(critical.channels_up_to(1), ["pager", "phone"]);
    let warning = t.matching(&labels(&[("severity", "warning")]))[0];
    assert_eq!(
        warning.tiers,
        [vec!["chat".to_owned()], vec!["email".into()]]
    );
    assert_eq!(warning.escalation_timeout, Duration::from_secs(900));
}
