//! Configuration files: the default file is `Config::default()`, round trips, precise errors,
//! validation rules and the deployment checklist.

use std::path::Path;

use watchkeeper::config::{
    Config, Environment, NamedChannel, RuleKind, Secret, Severity, DEFAULT_RON,
};

fn has(v: &watchkeeper::config::Validation, severity: Severity, field: &str) -> bool {
    v.findings
        .iter()
        .any(|f| f.severity == severity && f.field == field)
}

#[test]
fn the_embedded_default_file_is_config_default_and_clean() {
    assert_eq!(Config::from_ron(DEFAULT_RON).unwrap(), Config::default());
    let v = Config::default().validate();
    assert!(!v.has_errors(), "{v}");
}

#[test]
fn every_shipped_file_loads_and_round_trips_through_save() {
    for file in [
        "config/default.ron",
        "config/production.ron",
        "config/demo.ron",
    ] {
        let c = Config::from_file(file).unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!("wk-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(Path::new(file).file_name().unwrap());
        c.save(&path).unwrap();
        assert_eq!(Config::from_file(&path).unwrap(), c, "{file}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let prod = Config::from_file("config/production.ron").unwrap();
    assert_eq!(prod.deployment.environment, Environment::Production);
    assert!(!prod.validate().has_errors(), "{}", prod.validate());
}

#[test]
fn a_bad_file_names_file_line_column_and_field() {
    let dir = std::env::temp_dir().join(format!("wk-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.ron");
    let text = DEFAULT_RON.replace(
        "                for: \"1m\",",
        "                for: \"1 fortnight\",",
    );
    std::fs::write(&path, &text).unwrap();
    let e = Config::from_file(&path).unwrap_err();
    let line = text.lines().position(|l| l.contains("fortnight")).unwrap() + 1;
    assert_eq!(e.file.as_deref(), Some(path.as_path()));
    assert_eq!(e.position.unwrap().0, line, "{e}");
    assert_eq!(e.field.as_deref(), Some("alerting.rules[0].for"), "{e}");
    assert!(e.message.contains("unknown unit"), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{}:{line}:", path.display())),
        "{shown}"
    );

    let text = DEFAULT_RON.replace(
        "        window: 60,",
        "        window: 60,\n        windw: 3,",
    );
    let e = Config::from_ron(&text).unwrap_err();
    assert!(e.message.contains("windw"), "{e}");
    assert_eq!(e.field.as_deref(), Some("monitoring.windw"), "{e}");

    assert!(Config::from_ron("(").is_err());
    assert!(Config::from_ron("").is_err());
    assert!(
        Config::from_ron(&"(".repeat(100_000)).is_err(),
        "deep nesting is an error, not a crash"
    );
    assert!(Config::from_file("/nonexistent/watchkeeper.ron")
        .unwrap_err()
        .message
        .contains("cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validation_applies_the_documented_rules() {
    let mut c = Config::default();
    c.memory.max_memory_usage_mb = 32;
    c.memory.memory_cleanup_interval = std::time::Duration::from_secs(30);
    c.monitoring.monitors.clear();
    c.monitoring.max_monitors = 0;
    c.supervisor.mailbox_capacity = 100;
    c.alerting.enabled = false;
    c.tuning.enabled = false;
    c.alerting.channels.email.enabled = true;
    c.alerting.channels.slack.enabled = true;
    c.alerting.rules[0].warning = Some(0.9);
    c.alerting.rules[0].critical = Some(f64::NAN);
    c.deployment.bind_address = "localhost:80".into();
    let v = c.validate();
    assert!(has(&v, Severity::Error, "memory.max_memory_usage_mb"));
    assert!(has(&v, Severity::Warning, "memory.memory_cleanup_interval"));
    assert!(
        has(&v, Severity::Warning, "monitoring.monitors"),
        "a host may create every monitor itself"
    );
    assert!(has(&v, Severity::Error, "monitoring.max_monitors"));
    assert!(has(&v, Severity::Warning, "supervisor.mailbox_capacity"));
    assert!(has(&v, Severity::Warning, "alerting.enabled"));
    assert!(has(&v, Severity::Recommendation, "tuning.enabled"));
    assert!(has(
        &v,
        Severity::Error,
        "alerting.channels.email.recipients"
    ));
    assert!(has(
        &v,
        Severity::Error,
        "alerting.channels.slack.webhook_url"
    ));
    assert!(has(&v, Severity::Error, "alerting.rules[0].critical"));
    assert!(has(&v, Severity::Error, "deployment.bind_address"));
    assert!(!has(
        &v,
        Severity::Error,
        "alerting.channels.email.security"
    ));
    let mut named = Config::default();
    named.monitoring.monitors = vec!["search".into(), "alerting".into(), "log".into()];
    let found = named.validate();
    assert!(
        has(&found, Severity::Error, "monitoring.monitors[1]"),
        "{found}"
    );
    assert!(
        has(&found, Severity::Error, "monitoring.monitors[2]"),
        "{found}"
    );
    assert!(
        !has(&found, Severity::Error, "monitoring.monitors[0]"),
        "{found}"
    );
    assert_eq!(
        v.findings.first().unwrap().severity,
        Severity::Error,
        "most serious first"
    );

    // A password over plain SMTP only to this host; elsewhere it would cross the network in the
    // clear. The same for a named email channel.
    let mut c = Config::default();
    let email = &mut c.alerting.channels.email;
    email.enabled = true;
    email.recipients = vec!["oncall@example.com".into()];
    email.username = Some(Secret::Value("alerts".into()));
    email.password = Some(Secret::Value("hunter2".into()));
    assert!(!has(
        &c.validate(),
        Severity::Error,
        "alerting.channels.email.security"
    ));
    c.alerting.channels.email.smtp_host = "mail.example.com".into();
    let v = c.validate();
    assert!(
        has(&v, Severity::Error, "alerting.channels.email.security"),
        "{v}"
    );
    assert!(v.to_string().contains("in the clear"), "{v}");
    c.alerting.channels.email.security = watchkeeper::config::SmtpSecurity::Starttls;
    assert!(!has(
        &c.validate(),
        Severity::Error,
        "alerting.channels.email.security"
    ));
    let mut named = c.alerting.channels.email.clone();
    named.security = watchkeeper::config::SmtpSecurity::None;
    c.alerting.channels.named.insert(
        "mail".into(),
        watchkeeper::config::NamedChannel::Email(named),
    );
    assert!(has(
        &c.validate(),
        Severity::Error,
        "alerting.channels.named.mail.security"
    ));

    let mut c = Config::default();
    c.memory.max_memory_usage_mb = 100;
    assert!(has(
        &c.validate(),
        Severity::Warning,
        "memory.max_memory_usage_mb"
    ));
    c.memory.max_memory_usage_mb = 200;
    assert!(!has(
        &c.validate(),
        Severity::Warning,
        "memory.max_memory_usage_mb"
    ));
    c.deployment.environment = Environment::Production;
    assert!(
        has(
            &c.validate(),
            Severity::Warning,
            "memory.max_memory_usage_mb"
        ),
        "256 MB floor in production"
    );

    let mut c = Config::default();
    c.monitoring.monitors = (0..11).map(|i| format!("m{i}")).collect();
    c.alerting.rules[0].warning = Some(0.5);
    c.alerting.rules[0].critical = Some(0.1);
    c.alerting.escalation.tiers = vec![vec!["log".into()], vec!["pager".into()]];
    c.deployment.bind_address = "0.0.0.0".into();
    c.deployment.environment = Environment::Production;
    let v = c.validate();
    assert!(has(&v, Severity::Recommendation, "monitoring.monitors"));
    assert!(
        has(&v, Severity::Error, "alerting.rules[0].warning"),
        "warning must come before critical"
    );
    let order = v
        .findings
        .iter()
        .find(|f| f.field == "alerting.rules[0].warning")
        .unwrap();
    assert_eq!(
        order.message,
        "warning 0.5 must be below critical 0.1, which is the worse value"
    );
    assert!(has(&v, Severity::Error, "alerting.escalation.tiers[1]"));
    assert!(
        has(&v, Severity::Error, "deployment.admin_token"),
        "an exposed admin server needs a token in production"
    );
}

#[test]
fn the_checklist_marks_what_the_configuration_already_satisfies() {
    let dev = Config::default().checklist();
    let prod = Config::from_file("config/production.ron")
        .unwrap()
        .checklist();
    let done = |items: &[watchkeeper::config::ChecklistItem], what: &str| {
        items
            .iter()
            .find(|i| i.item.starts_with(what))
            .unwrap_or_else(|| panic!("{what}"))
            .complete
    };
    assert!(
        !done(&dev, "Memory limit of at least 256 MB")
            || Config::default().memory.max_memory_usage_mb >= 256
    );
    assert!(!done(&dev, "A notification channel other than the log"));
    assert!(done(&prod, "A notification channel other than the log"));
    assert!(!done(&dev, "Environment set to production"));
    assert!(done(&prod, "Environment set to production"));
    assert!(done(&prod, "Secrets read from environment variables"));
    // A password written in the file spoils it wherever it is; a login's user name does not.
    let mut c = Config::from_file("config/production.ron").unwrap();
    let email = watchkeeper::config::EmailChannel {
        recipients: vec!["oncall@example.com".into()],
        username: Some(Secret::Value("oncall".into())),
        password: Some(Secret::Env("SMTP_PASSWORD".into())),
        ..Default::default()
    };
    c.alerting
        .channels
        .named
        .insert("mail".into(), NamedChannel::Email(email.clone()));
    assert!(done(
        &c.checklist(),
        "Secrets read from environment variables"
    ));
    let written = watchkeeper::config::EmailChannel {
        password: Some(Secret::Value("hunter2".into())),
        ..email
    };
    c.alerting
        .channels
        .named
        .insert("mail".into(), NamedChannel::Email(written));
    assert!(!done(
        &c.checklist(),
        "Secrets read from environment variables"
    ));
    assert!(done(&prod, "Escalation beyond the first receiver"));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let s = Secret::Value("hunter2-very-secret".into());
    assert!(!format!("{s:?}").contains("hunter2"));
    let mut c = Config::default();
    c.alerting.channels.slack.webhook_url = Some(s);
    assert!(!format!("{c:?}").contains("hunter2"));
    assert_eq!(
        Secret::Env("WK_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err(),
        "environment variable WK_SURELY_UNSET_VAR is not set"
    );
}

#[test]
fn hostile_configuration_files_get_clear_errors_not_panics() {
    // Megabytes of noise.
    let noise: String = (0..4_000_000u32)
        .map(|i| char::from(b' ' + (i.wrapping_mul(2_654_435_761) >> 25) as u8 % 94))
        .collect();
    let e = Config::from_ron(&noise).unwrap_err();
    assert!(e.position.is_some(), "{e}");
    // Syntax errors: the nearest field that has a name, or none; never an unnamed `?`.
    for (text, field, said) in [
        (
            "(monitoring: (tick: \"1s\" window: 3))",
            Some("monitoring"),
            "Expected comma",
        ),
        (
            "(monitoring: (tick: \"1s\",",
            Some("monitoring"),
            "Unexpected end",
        ),
        ("(monitoring: tick)", Some("monitoring"), ""),
        ("(monitoring: ()) (", None, ""),
        (
            "(alerting: (rules: [(name: \"A\", monitor: \"m\", metric: p98)]))",
            Some("alerting.rules[0].metric"),
            "`p98` in enum",
        ),
    ] {
        let e = Config::from_ron(text).unwrap_err();
        assert_eq!(e.field.as_deref(), field, "{e}");
        assert!(!e.to_string().contains('?'), "{e}");
        assert!(e.message.contains(said), "{e}");
    }
    // Absurd values: each is refused with the field named, at parse time or by validation.
    for (from, to, field) in [
        (
            "tick: \"1s\"",
            "tick: \"99999999999999h\"",
            "monitoring.tick",
        ),
        ("window: 60,", "window: -1,", "monitoring.window"),
        (
            "mailbox_capacity: 1024",
            "mailbox_capacity: 99999999999999999999999",
            "supervisor.mailbox_capacity",
        ),
        (
            "health_check_port: 8080",
            "health_check_port: 70000",
            "deployment.health_check_port",
        ),
    ] {
        let e = Config::from_ron(&DEFAULT_RON.replace(from, to)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
    }
    for (from, to, field) in [
        ("tick: \"1s\"", "tick: \"0s\"", "monitoring.tick"),
        (
            "warning: Some(0.1)",
            "warning: Some(NaN)",
            "alerting.rules[0].warning",
        ),
        (
            "gc_trigger_threshold: 0.8",
            "gc_trigger_threshold: inf",
            "memory.gc_trigger_threshold",
        ),
        (
            "histogram: (lowest: \"1us\", highest: \"1m\"",
            "histogram: (lowest: \"1h\", highest: \"1us\"",
            "monitoring.histogram",
        ),
    ] {
        let c = Config::from_ron(&DEFAULT_RON.replace(from, to))
            .unwrap_or_else(|e| panic!("{to}: {e}"));
        assert!(
            c.validate()
                .findings
                .iter()
                .any(|f| f.severity == Severity::Error && f.field == field),
            "{to}: {}",
            c.validate()
        );
        assert!(
            matches!(
                watchkeeper::Runtime::start(c),
                Err(watchkeeper::Error::Invalid(_))
            ),
            "{to}: the runtime refuses it"
        );
    }
}

#[test]
fn detection_rule_kinds_load_from_ron_and_their_settings_are_validated() {
    // The first rule of the default file with `kind` and `field: settings` replaced.
    let rule = |kind: &str, field: &str, settings: &str| {
        DEFAULT_RON
            .lines()
            .map(|line| match line.trim_start() {
                l if l.starts_with("kind: ") => format!("kind: {kind},"),
                l if !field.is_empty() && l.starts_with(&format!("{field}: (")) => {
                    format!("{field}: {settings},")
                }
                _ => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Partial settings: the rest keep their defaults.
    let text = rule("anomaly", "anomaly", "(reference: 300)")
        .replace("warning: Some(0.1)", "warning: Some(0.9995)")
        .replace("critical: Some(0.5)", "critical: None");
    let c = Config::from_ron(&text).unwrap_or_else(|e| panic!("{e}"));
    let r = &c.alerting.rules[0];
    assert_eq!(r.kind, RuleKind::Anomaly);
    assert_eq!(r.anomaly.reference, 300);
    assert_eq!(r.anomaly.shape, 12);
    assert!(!c.validate().has_errors(), "{}", c.validate());

    let text = rule("regression", "regression", "(recent: 2, max_p_value: 1.5)");
    let v = Config::from_ron(&text).unwrap().validate();
    assert!(
        has(&v, Severity::Error, "alerting.rules[0].regression"),
        "{v}"
    );
    assert!(
        has(
            &v,
            Severity::Error,
            "alerting.rules[0].regression.max_p_value"
        ),
        "{v}"
    );

    let text = rule(
        "trend",
        "trend",
        "(points: 2, horizon: \"0s\", min_r_squared: 2.0)",
    );
    let v = Config::from_ron(&text).unwrap().validate();
    for field in ["points", "horizon", "min_r_squared"] {
        assert!(
            has(
                &v,
                Severity::Error,
                &format!("alerting.rules[0].trend.{field}")
            ),
            "{field}: {v}"
        );
    }

    // Anomaly thresholds are scores: 1.5 is not one (and with no critical, no ordering is at stake).
    let text = rule("anomaly", "anomaly", "(neighbours: 5000)")
        .replace("Some(0.1)", "Some(1.5)")
        .replace("critical: Some(0.5)", "critical: None");
    let v = Config::from_ron(&text).unwrap().validate();
    assert!(has(&v, Severity::Error, "alerting.rules[0].anomaly"), "{v}");
    assert!(has(&v, Severity::Warning, "alerting.rules[0].for"), "{v}");
    assert!(has(&v, Severity::Error, "alerting.rules[0].warning"), "{v}");

    // Settings that would hold more than 64 KiB per metric are refused, saying so.
    let text = rule("anomaly", "anomaly", "(reference: 2000, calibration: 2000)")
        .replace("warning: Some(0.1)", "warning: Some(0.9995)")
        .replace("critical: Some(0.5)", "critical: None");
    let v = Config::from_ron(&text).unwrap().validate();
    assert!(has(&v, Severity::Error, "alerting.rules[0].anomaly"), "{v}");
    assert!(v.to_string().contains("64 KiB"), "{v}");

    // A threshold at or below the top bin alerts on plain noise: a warning says so.
    let text = rule("anomaly", "anomaly", "()")
        .replace("warning: Some(0.1)", "warning: Some(0.9981)")
        .replace("critical: Some(0.5)", "critical: None");
    let v = Config::from_ron(&text).unwrap().validate();
    assert!(!v.has_errors(), "{v}");
    assert!(
        has(&v, Severity::Warning, "alerting.rules[0].warning"),
        "{v}"
    );

    let e = Config::from_ron(&rule("forecast", "", "")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("alerting.rules[0].kind"), "{e}");
}

#[test]
fn any_subset_of_fields_is_a_whole_file_and_an_unknown_field_is_still_an_error() {
    let three = "(\n    monitoring: (monitors: [\"search\", \"index\"]),\n)\n";
    let c = Config::from_ron(three).unwrap();
    assert_eq!(c, Config::default(), "the rest takes its defaults");
    let c = Config::from_ron(
        "(alerting: (rules: [(name: \"A\", monitor: \"search\", metric: p50, warning: 0.2)]))",
    )
    .unwrap();
    assert_eq!(c.alerting.rules[0].warning, Some(0.2));
    assert_eq!(c.alerting.rules[0].for_, std::time::Duration::ZERO);
    assert_eq!(
        c.alerting.check_interval,
        Config::default().alerting.check_interval
    );
    assert!(!c.validate().has_errors(), "{}", c.validate());
    assert_eq!(Config::from_ron("()").unwrap(), Config::default());

    let e = Config::from_ron("(\n    alerting: (\n        chanels: (),\n    ),\n)").unwrap_err();
    assert_eq!(e.position, Some((3, 9)), "{e}");
    assert_eq!(e.field.as_deref(), Some("alerting.chanels"), "{e}");
    assert!(e.message.contains("chanels"), "{e}");

    // A duration written as a number says what it lacks, for plain and optional durations alike.
    let e = Config::from_ron("(monitoring: (tick: 5))").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("monitoring.tick"), "{e}");
    assert!(e.message.contains("\"5s\""), "{e}");
    let e = Config::from_ron(
        "(alerting: (rules: [(name: \"A\", monitor: \"search\", metric: p50, warning: 0.2, for: 1.5)]))",
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("alerting.rules[0].for"), "{e}");
    assert!(e.message.contains("\"1.5s\""), "{e}");
    let e = Config::from_ron("(alerting: (routes: [(group_wait: 30)]))").unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("alerting.routes[0].group_wait"),
        "{e}"
    );
    assert!(e.message.contains("\"30s\""), "{e}");

    // The common slips the parser has only a bare word for get a hint.
    for (text, hint) in [
        (
            "(deployment: (admin_token: \"plain\"))",
            "a secret as `Value(\"...\")`",
        ),
        (
            "(alerting: (rules: [(name: \"A\", metric: \"p99\")]))",
            "a choice is written without quotes",
        ),
        (
            "(alerting: (rules: [(name: \"Größe\", metric: \"p99\")]))",
            "a choice is written without quotes",
        ),
        (
            "(monitoring: (window: 1.5))",
            "a fraction where a whole number",
        ),
        ("(monitoring: (window: -3))", "a negative number"),
    ] {
        let e = Config::from_ron(text).unwrap_err();
        assert!(e.message.contains(hint), "{text}: {e}");
    }
    let e = Config::from_ron(" \n// a comment\n").unwrap_err();
    assert!(e.message.contains("empty"), "{e}");
}

#[test]
fn the_readme_configuration_is_at_most_ten_lines_and_runs_the_main_job() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let start = readme
        .find("```ron\n")
        .expect("the README shows a configuration")
        + 7;
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(text.lines().count() <= 10, "{text}");
    let c = Config::from_ron(text).unwrap_or_else(|e| panic!("{e}"));
    let v = c.validate();
    assert!(!v.has_errors(), "{v}");
    let demo = Config::from_file("config/demo.ron").unwrap();
    assert_eq!(c.alerting.rules[0].name, demo.alerting.rules[0].name);
}

#[test]
fn an_enabled_channel_that_no_tier_reaches_and_duplicate_names_are_found() {
    let mut c = Config::default();
    c.alerting.channels.webhook.enabled = true;
    c.alerting.channels.webhook.url = Some(Secret::Value("http://127.0.0.1:9/hook".into()));
    assert!(
        !c.validate()
            .findings
            .iter()
            .any(|f| f.field.contains("webhook")),
        "without a receiver written every enabled channel is notified"
    );
    c.alerting.receiver = Some(vec!["log".into()]);
    assert!(has(
        &c.validate(),
        Severity::Warning,
        "alerting.channels.webhook"
    ));
    // Reached through an escalation tier, or a route.
    c.alerting.escalation.tiers = vec![vec!["webhook".into()]];
    assert!(!has(
        &c.validate(),
        Severity::Warning,
        "alerting.channels.webhook"
    ));
    c.alerting.escalation.tiers.clear();
    c.alerting.routes = vec![watchkeeper::config::RouteConfig {
        matchers: vec![watchkeeper::config::Matcher::parse("severity=critical").unwrap()],
        receiver: Some(vec!["webhook".into()]),
        ..Default::default()
    }];
    assert!(!has(
        &c.validate(),
        Severity::Warning,
        "alerting.channels.webhook"
    ));
    // A route naming a channel that is not enabled is an error, and one naming no channel at all
    // says so.
    c.alerting.routes[0].receiver = Some(vec!["pager".into()]);
    assert!(has(
        &c.validate(),
        Severity::Error,
        "alerting.routes[0].receiver"
    ));
    c.alerting.routes[0].receiver = Some(vec!["slack".into(), "nosuch".into()]);
    let v = c.validate();
    let said: Vec<&str> = v
        .findings
        .iter()
        .filter(|f| f.field == "alerting.routes[0].receiver")
        .map(|f| f.message.as_str())
        .collect();
    assert!(said.contains(&"channel `slack` is not enabled"), "{said:?}");
    assert!(
        said.iter()
            .any(|m| m.starts_with("no channel is named `nosuch`")),
        "{said:?}"
    );

    let mut c = Config::default();
    let twin = c.alerting.rules[0].clone();
    c.alerting.rules.push(twin);
    c.monitoring.monitors.push("search".into());
    let v = c.validate();
    assert!(has(&v, Severity::Error, "alerting.rules[1].name"), "{v}");
    assert!(has(&v, Severity::Error, "monitoring.monitors[2]"), "{v}");
}

#[test]
fn findings_of_a_file_are_located_where_their_field_is_written() {
    let dir = std::env::temp_dir().join(format!("wk-loc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("located.ron");
    let text = "(\n    monitoring: (window: 0),\n    alerting: (rules: [(name: \"A\", monitor: \"search\", metric: p99)]),\n)\n";
    std::fs::write(&path, text).unwrap();
    let (_, v) = Config::check_file(&path).unwrap();
    let at = |field: &str| {
        v.findings
            .iter()
            .find(|f| f.field == field)
            .unwrap()
            .position
    };
    assert_eq!(at("monitoring.window"), Some((2, 18)));
    // A field the file leaves out is placed at the nearest one it writes: the rule.
    assert_eq!(at("alerting.rules[0].critical"), Some((3, 24)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_channel_secret_from_an_unset_variable_is_a_warning_naming_its_field() {
    // The runtime builds each channel's notifier at start with its secrets resolved, so an unset
    // variable stops the start: `check` must say so, not pass the file.
    let text = r#"(alerting: (channels: (
        slack: (enabled: true, webhook_url: Env("WATCHKEEPER_TEST_UNSET_SLACK_URL")),
        webhook: (enabled: false, url: Env("WATCHKEEPER_TEST_UNSET_DISABLED_URL")),
        named: {"pager": Email((recipients: ["oncall@example.com"], username: Env("WATCHKEEPER_TEST_UNSET_SMTP_USER"), password: Value("x")))},
    )))"#;
    let v = Config::from_ron(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .validate();
    assert!(!v.has_errors(), "{v}");
    for field in [
        "alerting.channels.slack.webhook_url",
        "alerting.channels.named.pager.username",
    ] {
        assert!(has(&v, Severity::Warning, field), "{field}: {v}");
    }
    assert!(
        v.to_string().contains("WATCHKEEPER_TEST_UNSET_SLACK_URL"),
        "{v}"
    );
    // A disabled channel is not built, and a secret given as a value needs nothing.
    for field in [
        "alerting.channels.webhook.url",
        "alerting.channels.named.pager.password",
    ] {
        assert!(!has(&v, Severity::Warning, field), "{field}: {v}");
    }
    // Nor is any channel with alerting off.
    let off = text.replacen("(alerting: (", "(alerting: (enabled: false, ", 1);
    let v = Config::from_ron(&off).unwrap().validate();
    assert!(
        !v.findings.iter().any(|f| f.field.contains("channels.")),
        "{v}"
    );
}

#[test]
fn an_inhibit_rule_equal_to_a_non_label_name_is_an_error() {
    // Alertmanager refuses it too, so `amtool config routes` could not read the tree.
    let text = r#"(alerting: (inhibit_rules: [(source_matchers: ["severity=\"critical\""],
        target_matchers: ["severity=\"warning\""], equal: ["alertname", "not-a-label"])]))"#;
    let v = Config::from_ron(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .validate();
    assert!(
        has(&v, Severity::Error, "alerting.inhibit_rules[0].equal[1]"),
        "{v}"
    );
    assert!(
        !has(&v, Severity::Error, "alerting.inhibit_rules[0].equal[0]"),
        "{v}"
    );
}

#[test]
fn channel_names_keep_clear_of_the_alertmanager_forms_receiver_names() {
    // `["a", "b"]` is the receiver `a+b` in the routing tree's Alertmanager form, and a receiver
    // of no channel is `none`: a channel named either way would be confused with them.
    for name in ["a+b", "none"] {
        let text = format!(
            r#"(alerting: (channels: (named: {{"{name}": Webhook(url: Value("http://127.0.0.1:9/"))}})))"#
        );
        let v = Config::from_ron(&text)
            .unwrap_or_else(|e| panic!("{e}"))
            .validate();
        let field = format!("alerting.channels.named.{name}");
        assert!(has(&v, Severity::Error, &field), "{name}: {v}");
    }
}

#[test]
fn urls_shown_by_redacted_lose_their_login_and_query() {
    // `GET /api/v2/status` shows the configuration to anyone who can read the admin server.
    let text = r#"(
        alerting: (channels: (alertmanager: (enabled: true, urls: ["http://am:s3cret@am-1:9093/base?x=1", "http://am-2:9093"]))),
        probes: (checks: [(name: "db", target: Http("https://db.internal/health?token=s3cret"))]),
    )"#;
    let c = Config::from_ron(text).unwrap_or_else(|e| panic!("{e}"));
    let shown = c.redacted();
    assert_eq!(
        shown.alerting.channels.alertmanager.urls,
        [
            "http://<redacted>@am-1:9093/base?<redacted>",
            "http://am-2:9093"
        ]
    );
    assert!(!shown.to_ron().contains("s3cret"), "{}", shown.to_ron());
    // The configuration itself is unchanged.
    assert!(c.to_ron().contains("s3cret"));
}
