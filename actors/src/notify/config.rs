//! The `alerting.channels` section: which channels deliver notifications, where to, and with which
//! retries, deadline and circuit breaker; and how each enabled channel's notifier is built.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[cfg(feature = "http-notify")]
use super::{AlertmanagerTransport, WebhookFormat, WebhookTransport};
use super::{ChannelCounters, LogTransport, NotifierActor, Transport};
#[cfg(feature = "email")]
use super::{EmailSettings, EmailTransport};
use crate::kernel::duration_serde;
use crate::kernel::validation::{Validation, A_DAY, MAX_CAPACITY};

/// A secret: given in the file, or read from an environment variable when used. Never printed.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::Secret;
///
/// let token = Secret::Value("hunter2".into());
/// assert_eq!(token.resolve(), Ok("hunter2".to_owned()));
/// assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
/// let unset = Secret::Env("WATCHKEEPER_EXAMPLE_UNSET".into());
/// assert_eq!(unset.resolve(), Err("environment variable WATCHKEEPER_EXAMPLE_UNSET is not set".into()));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Secret {
    /// The value itself.
    Value(String),
    /// The name of the environment variable holding it.
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(<redacted>)"),
            Secret::Env(name) => write!(f, "Secret(env {name})"),
        }
    }
}

impl Secret {
    /// The secret's value.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Secret::Value(v) => Ok(v.clone()),
            Secret::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
        }
    }
}

/// The log channel: every notification as a `tracing` event.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{ChannelsConfig, LogChannel};
///
/// let quiet = ChannelsConfig { log: LogChannel { enabled: false }, ..Default::default() };
/// assert!(quiet.enabled().is_empty());
/// assert_eq!(ChannelsConfig::default().enabled(), ["log"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogChannel {
    /// Whether alerts are logged (WARN when firing, INFO when resolved).
    pub enabled: bool,
}

impl Default for LogChannel {
    fn default() -> Self {
        LogChannel { enabled: true }
    }
}

/// A generic webhook, sent Alertmanager's webhook payload (version 4).
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{ChannelsConfig, Secret, WebhookChannel};
///
/// let webhook = WebhookChannel { enabled: true, url: Some(Secret::Env("HOOK_URL".into())) };
/// let channels = ChannelsConfig { webhook, ..Default::default() };
/// assert!(!channels.validate().has_errors());
/// assert_eq!(channels.enabled(), ["log", "webhook"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookChannel {
    /// Whether notifications are posted to it.
    pub enabled: bool,
    /// The URL notifications are POSTed to; best read from the environment, `Env("HOOK_URL")`.
    pub url: Option<Secret>,
}

/// A Slack incoming webhook.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{ChannelsConfig, SlackChannel};
///
/// let slack = SlackChannel { enabled: true, webhook_url: None, channel: Some("#alerts".into()) };
/// let channels = ChannelsConfig { slack, ..Default::default() };
/// assert_eq!(channels.validate().findings[0].field, "slack.webhook_url");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackChannel {
    /// Whether notifications are posted to Slack.
    pub enabled: bool,
    /// The incoming-webhook URL Slack gave; best read from the environment.
    pub webhook_url: Option<Secret>,
    /// Posts to this channel instead of the webhook's own (`#alerts`).
    pub channel: Option<String>,
}

/// How the SMTP connection is secured.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{EmailChannel, SmtpSecurity};
///
/// let email = EmailChannel { smtp_port: 587, security: SmtpSecurity::Starttls, ..Default::default() };
/// assert_eq!(EmailChannel::default().security, SmtpSecurity::None);
/// # let _ = email;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on the same host).
    #[default]
    None,
    /// STARTTLS upgrade (port 587).
    Starttls,
    /// TLS from the start (port 465).
    Tls,
}

/// Email over SMTP: one plain-text message per notification to every recipient.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{ChannelsConfig, EmailChannel};
///
/// let email = EmailChannel {
///     enabled: true,
///     smtp_host: "mail.example.com".into(),
///     recipients: vec!["oncall@example.com".into()],
///     ..Default::default()
/// };
/// let channels = ChannelsConfig { email, ..Default::default() };
/// assert!(!channels.validate().has_errors());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailChannel {
    /// Whether notifications are mailed.
    pub enabled: bool,
    /// The SMTP server's host name or address.
    pub smtp_host: String,
    /// The SMTP server's port (25 for a local relay, 587 with STARTTLS, 465 with TLS).
    pub smtp_port: u16,
    /// `none` (a local relay), `starttls` or `tls`.
    pub security: SmtpSecurity,
    /// The SMTP user name, when the server wants a login.
    pub username: Option<Secret>,
    /// The SMTP password; best read from the environment.
    pub password: Option<Secret>,
    /// The sender address.
    pub from: String,
    /// Who receives the notifications.
    pub recipients: Vec<String>,
}

impl EmailChannel {
    /// Why this channel's login would cross the network unencrypted: a user name and password
    /// with `security: none` to a host other than this one. (Alertmanager, likewise, sends a
    /// password only over TLS or to localhost.)
    pub fn login_in_the_clear(&self) -> Option<String> {
        let local = self.smtp_host == "localhost"
            || self
                .smtp_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        (self.security == SmtpSecurity::None && self.password.is_some() && !local).then(|| {
            format!(
                "a login with `security: none` would send the password to {} in the clear; \
                 use `starttls` (port 587) or `tls` (port 465), or a relay on this host",
                self.smtp_host
            )
        })
    }
}

impl Default for EmailChannel {
    fn default() -> Self {
        EmailChannel {
            enabled: false,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "watchkeeper@localhost".into(),
            recipients: Vec::new(),
        }
    }
}

/// Alertmanager's v2 API: alerts themselves rather than grouped notifications.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{AlertmanagerChannel, ChannelsConfig};
/// use std::time::Duration;
///
/// let alertmanager = AlertmanagerChannel {
///     enabled: true,
///     urls: vec!["http://127.0.0.1:9093".into()],
///     ..Default::default()
/// };
/// let channels = ChannelsConfig { alertmanager, ..Default::default() };
/// assert!(!channels.validate().has_errors());
/// assert_eq!(channels.alertmanager_resend(), Some(Duration::from_secs(60)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerChannel {
    /// Whether alerts are sent to Alertmanager.
    pub enabled: bool,
    /// The base URL of every Alertmanager of the cluster, e.g. `["http://127.0.0.1:9093"]`: each
    /// gets every alert, as Prometheus sends them (a cluster notifies each group once).
    pub urls: Vec<String>,
    /// Firing alerts are sent again this often; each carries an end four intervals ahead, so an
    /// Alertmanager that stops hearing of an alert resolves it by itself.
    #[serde(with = "duration_serde")]
    pub resend_interval: Duration,
}

impl Default for AlertmanagerChannel {
    fn default() -> Self {
        AlertmanagerChannel {
            enabled: false,
            urls: Vec::new(),
            resend_interval: Duration::from_secs(60),
        }
    }
}

/// Retries, deadline and circuit breaker of a channel.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::notify::{ChannelsConfig, DeliveryPolicy};
///
/// let delivery = DeliveryPolicy { retries: 5, backoff_min: Duration::from_secs(1), ..Default::default() };
/// let channels = ChannelsConfig { delivery, ..Default::default() };
/// assert!(!channels.validate().has_errors());
/// let backwards = DeliveryPolicy { backoff_min: Duration::from_secs(60), ..Default::default() };
/// let channels = ChannelsConfig { delivery: backwards, ..Default::default() };
/// assert_eq!(channels.validate().findings[0].field, "delivery.backoff_min");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// First retry delay (doubles each time; `Retry-After` is honoured).
    #[serde(with = "duration_serde")]
    pub backoff_min: Duration,
    /// Largest retry delay.
    #[serde(with = "duration_serde")]
    pub backoff_max: Duration,
    /// How long one attempt may take.
    #[serde(with = "duration_serde")]
    pub attempt_timeout: Duration,
    /// A notification not delivered within this is recorded as failed.
    #[serde(with = "duration_serde")]
    pub deadline: Duration,
    /// Consecutive failures that open the channel's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker waits before one trial delivery.
    #[serde(with = "duration_serde")]
    pub breaker_reset: Duration,
    /// Notifications each channel's outbox holds.
    pub outbox_capacity: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            retries: 3,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(300),
            breaker_failures: 5,
            breaker_reset: Duration::from_secs(60),
            outbox_capacity: 256,
        }
    }
}

/// A channel of its own name, beside the built-in ones, so that routes can send to several
/// webhooks, Slack channels or mailing lists.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use watchkeeper_actors::notify::{ChannelsConfig, NamedChannel, Secret};
///
/// let pager = NamedChannel::Webhook { url: Secret::Env("PAGER_URL".into()) };
/// let channels = ChannelsConfig { named: BTreeMap::from([("pager".into(), pager)]), ..Default::default() };
/// assert!(!channels.validate().has_errors());
/// assert_eq!(channels.enabled(), ["log", "pager"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum NamedChannel {
    /// A webhook, sent Alertmanager's webhook payload (version 4).
    Webhook {
        /// The URL notifications are POSTed to.
        url: Secret,
    },
    /// A Slack incoming webhook.
    Slack {
        /// The incoming-webhook URL.
        webhook_url: Secret,
        /// Posts to this channel instead of the webhook's own.
        #[serde(default)]
        channel: Option<String>,
    },
    /// Email over SMTP (its `enabled` is implied).
    Email(EmailChannel),
}

/// Notification channels.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{ChannelsConfig, EmailChannel};
///
/// let mut channels = ChannelsConfig::default();
/// channels.email = EmailChannel { enabled: true, ..Default::default() };
/// // Email without recipients is refused.
/// assert_eq!(channels.validate().findings[0].field, "email.recipients");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Retries, deadline and circuit breaker, for every channel.
    pub delivery: DeliveryPolicy,
    /// The log.
    pub log: LogChannel,
    /// A generic webhook.
    pub webhook: WebhookChannel,
    /// Slack.
    pub slack: SlackChannel,
    /// Email.
    pub email: EmailChannel,
    /// Alertmanager.
    pub alertmanager: AlertmanagerChannel,
    /// More channels, by a name of their own that routes use as a receiver, e.g.
    /// `{"pager": Webhook(url: Env("PAGER_URL")), "chat": Slack(webhook_url: Env("CHAT_URL"))}`.
    pub named: BTreeMap<String, NamedChannel>,
}

/// The names of the built-in channels, which named channels may not take.
pub const BUILT_IN_CHANNELS: [&str; 5] = ["log", "webhook", "slack", "email", ALERTMANAGER_CHANNEL];

/// The name of the Alertmanager channel, which receives raw alert states rather than groups.
pub const ALERTMANAGER_CHANNEL: &str = "alertmanager";

/// The name the Alertmanager form of the routing tree (`GET /api/v2/status`) gives a receiver of
/// no channel; named channels may not take it.
pub const NO_CHANNEL: &str = "none";

/// What joins the channels of a receiver of several in the Alertmanager form of the routing tree
/// (`["slack", "email"]` is `slack+email`); channel names may not contain it.
pub const CHANNEL_JOIN: char = '+';

/// Everything one enabled channel's notifier is built from; equal definitions build equal notifiers,
/// so a reload restarts only the channels whose definition changed.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::notify::{ChannelDef, ChannelsConfig};
///
/// let definitions = ChannelsConfig::default().definitions();
/// let (name, def) = &definitions[0];
/// assert_eq!(name, "log");
/// assert!(matches!(def, ChannelDef::Log(_)));
/// assert_eq!(def.policy().retries, 3);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelDef {
    /// The log.
    Log(DeliveryPolicy),
    /// A generic webhook.
    Webhook(WebhookChannel, DeliveryPolicy),
    /// Slack.
    Slack(SlackChannel, DeliveryPolicy),
    /// Email.
    Email(EmailChannel, DeliveryPolicy),
    /// Alertmanager.
    Alertmanager(AlertmanagerChannel, DeliveryPolicy),
}

/// Builds a channel's notifier, at start and at every restart.
pub type NotifierFactory = Arc<dyn Fn() -> NotifierActor + Send + Sync>;

#[cfg(any(feature = "http-notify", feature = "email"))]
fn secret(field: &str, s: &Option<Secret>) -> Result<String, String> {
    match s {
        Some(s) => s.resolve().map_err(|e| format!("{field}: {e}")),
        None => Err(format!("{field} is not set")),
    }
}

impl ChannelDef {
    /// The delivery policy.
    pub fn policy(&self) -> &DeliveryPolicy {
        match self {
            ChannelDef::Log(p)
            | ChannelDef::Webhook(_, p)
            | ChannelDef::Slack(_, p)
            | ChannelDef::Email(_, p)
            | ChannelDef::Alertmanager(_, p) => p,
        }
    }

    /// The notifier's factory, with secrets resolved now (an unset variable is an error naming
    /// its field). The transport itself is built inside the factory, on the notifier's thread.
    pub fn factory(
        &self,
        name: &str,
        counters: Arc<ChannelCounters>,
    ) -> Result<NotifierFactory, String> {
        let policy = self.policy().clone();
        // Unused by a build with neither the HTTP nor the email channels.
        #[cfg_attr(
            not(any(feature = "http-notify", feature = "email")),
            allow(unused_variables)
        )]
        let receiver = name.to_owned();
        #[cfg_attr(
            not(any(feature = "http-notify", feature = "email")),
            allow(unused_variables)
        )]
        let field = |f: &str| {
            if BUILT_IN_CHANNELS.contains(&name) {
                format!("alerting.channels.{name}.{f}")
            } else {
                format!("alerting.channels.named.{name}.{f}")
            }
        };
        let transport: Box<dyn Fn() -> Box<dyn Transport> + Send + Sync> = match self {
            ChannelDef::Log(_) => Box::new(|| Box::new(LogTransport)),
            #[cfg(feature = "http-notify")]
            ChannelDef::Webhook(w, _) => {
                let url = secret(&field("url"), &w.url)?;
                Box::new(move || {
                    Box::new(WebhookTransport::new(
                        receiver.clone(),
                        url.clone(),
                        WebhookFormat::Alertmanager,
                        None,
                    ))
                })
            }
            #[cfg(feature = "http-notify")]
            ChannelDef::Slack(s, _) => {
                let url = secret(&field("webhook_url"), &s.webhook_url)?;
                let channel = s.channel.clone();
                Box::new(move || {
                    Box::new(WebhookTransport::new(
                        receiver.clone(),
                        url.clone(),
                        WebhookFormat::Slack {
                            channel_override: channel.is_some(),
                        },
                        channel.clone(),
                    ))
                })
            }
            #[cfg(feature = "email")]
            ChannelDef::Email(e, _) => {
                let credentials = match (&e.username, &e.password) {
                    (Some(_), Some(_)) => Some((
                        secret(&field("username"), &e.username)?,
                        secret(&field("password"), &e.password)?,
                    )),
                    _ => None,
                };
                let settings = EmailSettings {
                    host: e.smtp_host.clone(),
                    port: e.smtp_port,
                    security: e.security,
                    credentials,
                    from: e.from.clone(),
                    to: e.recipients.clone(),
                };
                Box::new(move || Box::new(EmailTransport::new(settings.clone())))
            }
            #[cfg(feature = "http-notify")]
            ChannelDef::Alertmanager(a, _) => {
                if a.urls.is_empty() {
                    return Err("alerting.channels.alertmanager.urls is empty".into());
                }
                let (urls, ttl) = (a.urls.clone(), a.resend_interval * 4);
                Box::new(move || Box::new(AlertmanagerTransport::new(&urls, ttl)))
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(format!(
                    "channel `{name}` is not built into this binary (enable its cargo feature)"
                ))
            }
        };
        let name = name.to_owned();
        Ok(Arc::new(move || {
            NotifierActor::new(name.clone(), transport(), policy.clone(), counters.clone())
        }))
    }
}

impl ChannelsConfig {
    /// Names of the enabled channels.
    pub fn enabled(&self) -> Vec<String> {
        self.definitions().into_iter().map(|(n, _)| n).collect()
    }

    /// [`Self::definitions`] for alerting that evaluates every `evaluated_every`: Alertmanager is
    /// pushed to at evaluations, so a firing alert's `endsAt` (four resend intervals ahead) is
    /// made from the longer of the resend and evaluation intervals, as Prometheus makes its
    /// `ValidUntil`; with a shorter one, Alertmanager would resolve a firing alert between two
    /// pushes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use watchkeeper_actors::notify::{ChannelDef, ChannelsConfig};
    ///
    /// let mut channels = ChannelsConfig::default();
    /// channels.alertmanager.enabled = true;
    /// channels.alertmanager.urls = vec!["http://127.0.0.1:9093".into()];
    /// channels.alertmanager.resend_interval = Duration::from_secs(60);
    /// // Evaluated every 5 minutes: endsAt is four of those ahead, not four minutes.
    /// let defs = channels.definitions_for(Duration::from_secs(300));
    /// let am = defs.iter().find_map(|(_, d)| match d {
    ///     ChannelDef::Alertmanager(a, _) => Some(a.resend_interval),
    ///     _ => None,
    /// });
    /// assert_eq!(am, Some(Duration::from_secs(300)));
    /// ```
    pub fn definitions_for(&self, evaluated_every: Duration) -> Vec<(String, ChannelDef)> {
        let mut out = self.definitions();
        for (_, def) in &mut out {
            if let ChannelDef::Alertmanager(a, _) = def {
                a.resend_interval = a.resend_interval.max(evaluated_every);
            }
        }
        out
    }

    /// Every enabled channel with what its notifier is built from.
    pub fn definitions(&self) -> Vec<(String, ChannelDef)> {
        let p = &self.delivery;
        let mut out: Vec<(String, ChannelDef)> = Vec::new();
        let mut add = |name: &str, def: ChannelDef| out.push((name.to_owned(), def));
        if self.log.enabled {
            add("log", ChannelDef::Log(p.clone()));
        }
        if self.webhook.enabled {
            add(
                "webhook",
                ChannelDef::Webhook(self.webhook.clone(), p.clone()),
            );
        }
        if self.slack.enabled {
            add("slack", ChannelDef::Slack(self.slack.clone(), p.clone()));
        }
        if self.email.enabled {
            add("email", ChannelDef::Email(self.email.clone(), p.clone()));
        }
        if self.alertmanager.enabled {
            add(
                ALERTMANAGER_CHANNEL,
                ChannelDef::Alertmanager(self.alertmanager.clone(), p.clone()),
            );
        }
        for (name, channel) in &self.named {
            let def = match channel {
                NamedChannel::Webhook { url } => ChannelDef::Webhook(
                    WebhookChannel {
                        enabled: true,
                        url: Some(url.clone()),
                    },
                    p.clone(),
                ),
                NamedChannel::Slack {
                    webhook_url,
                    channel,
                } => ChannelDef::Slack(
                    SlackChannel {
                        enabled: true,
                        webhook_url: Some(webhook_url.clone()),
                        channel: channel.clone(),
                    },
                    p.clone(),
                ),
                NamedChannel::Email(email) => ChannelDef::Email(
                    EmailChannel {
                        enabled: true,
                        ..email.clone()
                    },
                    p.clone(),
                ),
            };
            add(name, def);
        }
        out
    }

    /// The Alertmanager channel's re-send interval, when that channel is enabled.
    pub fn alertmanager_resend(&self) -> Option<Duration> {
        self.alertmanager
            .enabled
            .then_some(self.alertmanager.resend_interval)
    }

    /// Checks the section; field paths are relative to it.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        let d = &self.delivery;
        for (field, value) in [
            ("delivery.backoff_min", d.backoff_min),
            ("delivery.backoff_max", d.backoff_max),
            ("delivery.attempt_timeout", d.attempt_timeout),
            ("delivery.deadline", d.deadline),
            ("delivery.breaker_reset", d.breaker_reset),
            (
                "alertmanager.resend_interval",
                self.alertmanager.resend_interval,
            ),
        ] {
            v.duration(field, value, A_DAY);
        }
        if d.backoff_min > d.backoff_max {
            v.error("delivery.backoff_min", "must not exceed backoff_max");
        }
        if d.retries > 100 {
            v.error(
                "delivery.retries",
                format!("{} retries is above the limit of 100", d.retries),
            );
        }
        v.count(
            "delivery.breaker_failures",
            u64::from(d.breaker_failures),
            10_000,
        );
        v.count(
            "delivery.outbox_capacity",
            d.outbox_capacity as u64,
            MAX_CAPACITY,
        );
        if self.email.enabled {
            if self.email.recipients.is_empty() {
                v.error("email.recipients", "email is enabled without recipients");
            }
            for (i, r) in self.email.recipients.iter().enumerate() {
                if !valid_email(r) {
                    v.error(
                        format!("email.recipients[{i}]"),
                        format!("`{r}` is not an email address"),
                    );
                }
            }
            if !valid_email(&self.email.from) {
                v.error(
                    "email.from",
                    format!("`{}` is not an email address", self.email.from),
                );
            }
            if self.email.username.is_some() != self.email.password.is_some() {
                v.error("email.password", "a login needs both username and password");
            }
            if let Some(problem) = self.email.login_in_the_clear() {
                v.error("email.security", problem);
            }
        }
        if self.slack.enabled && self.slack.webhook_url.is_none() {
            v.error(
                "slack.webhook_url",
                "Slack is enabled without a webhook URL",
            );
        }
        if self.webhook.enabled && self.webhook.url.is_none() {
            v.error("webhook.url", "the webhook is enabled without a URL");
        }
        for (field, secret) in [
            ("webhook.url", &self.webhook.url),
            ("slack.webhook_url", &self.slack.webhook_url),
        ] {
            if let Some(Secret::Value(url)) = secret {
                if !valid_http_url(url) {
                    v.error(field, "not an http(s) URL");
                }
            }
        }
        if self.alertmanager.enabled && self.alertmanager.urls.is_empty() {
            v.error("alertmanager.urls", "Alertmanager is enabled without a URL");
        }
        for (i, url) in self.alertmanager.urls.iter().enumerate() {
            if !valid_http_url(url) {
                v.error(format!("alertmanager.urls[{i}]"), "not an http(s) URL");
            }
        }
        for (name, channel) in &self.named {
            let at = |f: &str| format!("named.{name}.{f}");
            if BUILT_IN_CHANNELS.contains(&name.as_str()) {
                v.error(
                    format!("named.{name}"),
                    format!("`{name}` is a built-in channel's name"),
                );
            } else if let Some(problem) = crate::kernel::validation::name_problem(name) {
                v.error(format!("named.{name}"), format!("a channel name {problem}"));
            } else if name == NO_CHANNEL || name.contains(CHANNEL_JOIN) {
                v.error(
                    format!("named.{name}"),
                    format!(
                        "a channel name may not be `{NO_CHANNEL}` or contain `{CHANNEL_JOIN}`: \
                         the routing tree's Alertmanager form (amtool config routes) names \
                         receivers with them"
                    ),
                );
            }
            match channel {
                NamedChannel::Webhook {
                    url: Secret::Value(url),
                } if !valid_http_url(url) => v.error(at("url"), "not an http(s) URL"),
                NamedChannel::Slack {
                    webhook_url: Secret::Value(url),
                    ..
                } if !valid_http_url(url) => v.error(at("webhook_url"), "not an http(s) URL"),
                NamedChannel::Email(email) if email.recipients.is_empty() => {
                    v.error(at("recipients"), "an email channel without recipients");
                }
                NamedChannel::Email(email) => {
                    if let Some(problem) = email.login_in_the_clear() {
                        v.error(at("security"), problem);
                    }
                }
                _ => {}
            }
        }
        #[cfg(not(feature = "http-notify"))]
        for (name, on) in [
            ("webhook", self.webhook.enabled),
            ("slack", self.slack.enabled),
            ("alertmanager", self.alertmanager.enabled),
        ] {
            if on {
                v.error(
                    format!("{name}.enabled"),
                    "built without the `http-notify` feature",
                );
            }
        }
        #[cfg(not(feature = "email"))]
        if self.email.enabled {
            v.error("email.enabled", "built without the `email` feature");
        }
        v
    }
}

/// One secret of the channels: where it is written, and whether the start resolves it.
#[derive(Debug)]
pub struct ChannelSecret<'a> {
    /// The field, relative to the channels section (`slack.webhook_url`, `named.pager.url`).
    pub field: String,
    /// The secret.
    pub secret: &'a Secret,
    /// Its channel is built at start (enabled; for an email login, both halves given), so the
    /// secret must resolve then.
    pub resolved_at_start: bool,
}

impl ChannelsConfig {
    /// Every secret the channels hold, written or not in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use watchkeeper_actors::notify::{ChannelsConfig, Secret, WebhookChannel};
    ///
    /// let webhook = WebhookChannel { enabled: false, url: Some(Secret::Env("HOOK".into())) };
    /// let channels = ChannelsConfig { webhook, ..Default::default() };
    /// let secrets = channels.secrets();
    /// assert_eq!(secrets[0].field, "webhook.url");
    /// assert!(!secrets[0].resolved_at_start);
    /// ```
    pub fn secrets(&self) -> Vec<ChannelSecret<'_>> {
        let mut all: Vec<(String, Option<&Secret>, bool)> = vec![
            (
                "webhook.url".into(),
                self.webhook.url.as_ref(),
                self.webhook.enabled,
            ),
            (
                "slack.webhook_url".into(),
                self.slack.webhook_url.as_ref(),
                self.slack.enabled,
            ),
        ];
        let mut emails = vec![("email.".to_owned(), &self.email, self.email.enabled)];
        for (name, channel) in &self.named {
            match channel {
                NamedChannel::Webhook { url } => {
                    all.push((format!("named.{name}.url"), Some(url), true))
                }
                NamedChannel::Slack { webhook_url, .. } => {
                    all.push((format!("named.{name}.webhook_url"), Some(webhook_url), true))
                }
                NamedChannel::Email(e) => emails.push((format!("named.{name}."), e, true)),
            }
        }
        for (prefix, e, on) in emails {
            // the login is resolved only when both halves are given
            let login = on && e.username.is_some() && e.password.is_some();
            all.push((format!("{prefix}username"), e.username.as_ref(), login));
            all.push((format!("{prefix}password"), e.password.as_ref(), login));
        }
        all.into_iter()
            .filter_map(|(field, secret, resolved_at_start)| {
                Some(ChannelSecret {
                    field,
                    secret: secret?,
                    resolved_at_start,
                })
            })
            .collect()
    }

    /// Warns of each secret resolved at start that is read from an environment variable not set
    /// here: the channel's notifier is built with it, so the start fails unless the running
    /// process has it. `at` prefixes the field paths. Called by the alerting section's
    /// validation, as channels are built only when alerting is on.
    pub fn check_environment(&self, v: &mut Validation, at: &str) {
        for s in self.secrets().into_iter().filter(|s| s.resolved_at_start) {
            if let (Secret::Env(var), Err(_)) = (s.secret, s.secret.resolve()) {
                v.warning(
                    format!("{at}{}", s.field),
                    format!(
                        "the environment variable {var} is not set here (or not UTF-8): the \
                         runtime refuses to start unless the running process has it"
                    ),
                );
            }
        }
    }
}

/// Whether `url` is an http(s) URL with a host.
pub fn valid_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

fn valid_email(address: &str) -> bool {
    matches!(address.split_once('@'), Some((user, host)) if !user.is_empty() && !host.is_empty() && !address.contains(char::is_whitespace))
}
