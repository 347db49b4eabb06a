//! Builds the notifier of every enabled channel from configuration, resolving secrets once at start.
//! Transports are built inside each notifier's factory, on its own thread, at every (re)start.

use std::sync::Arc;
use std::time::Duration;

use watchkeeper_actors::notify::{
    AlertmanagerTransport, ChannelCounters, DeliveryPolicy, EmailSettings, EmailTransport,
    LogTransport, NotifierActor, Transport, WebhookFormat, WebhookTransport,
};

use crate::config::{ChannelsConfig, Secret};
use crate::error::Error;

/// One channel to start: its name, its notifier factory, its counters, its outbox capacity.
pub(crate) struct ChannelSpec {
    pub(crate) name: &'static str,
    pub(crate) factory: Box<dyn Fn() -> NotifierActor + Send + Sync>,
    pub(crate) counters: Arc<ChannelCounters>,
    pub(crate) capacity: usize,
}

fn secret(field: &str, s: &Option<Secret>) -> Result<String, Error> {
    match s {
        Some(s) => s
            .resolve()
            .map_err(|e| Error::Start(format!("{field}: {e}"))),
        None => Err(Error::Start(format!("{field} is not set"))),
    }
}

fn spec(
    name: &'static str,
    policy: &DeliveryPolicy,
    transport: impl Fn() -> Box<dyn Transport> + Send + Sync + 'static,
) -> ChannelSpec {
    let counters = Arc::new(ChannelCounters::default());
    let (c, p) = (counters.clone(), policy.clone());
    ChannelSpec {
        name,
        factory: Box::new(move || NotifierActor::new(name, transport(), p.clone(), c.clone())),
        counters,
        capacity: policy.outbox_capacity.max(1),
    }
}

/// The enabled channels' specs; a secret that cannot be resolved stops the start with its field name.
pub(crate) fn specs(
    channels: &ChannelsConfig,
    alertmanager_ttl: Duration,
) -> Result<Vec<ChannelSpec>, Error> {
    let policy = &channels.delivery;
    let mut out = Vec::new();
    if channels.log.enabled {
        out.push(spec("log", policy, || Box::new(LogTransport)));
    }
    if channels.webhook.enabled {
        let url = secret("alerting.channels.webhook.url", &channels.webhook.url)?;
        out.push(spec("webhook", policy, move || {
            Box::new(WebhookTransport::new(
                "webhook",
                url.clone(),
                WebhookFormat::Alertmanager,
                None,
            ))
        }));
    }
    if channels.slack.enabled {
        let url = secret(
            "alerting.channels.slack.webhook_url",
            &channels.slack.webhook_url,
        )?;
        let channel = channels.slack.channel.clone();
        out.push(spec("slack", policy, move || {
            Box::new(WebhookTransport::new(
                "slack",
                url.clone(),
                WebhookFormat::Slack {
                    channel_override: channel.is_some(),
                },
                channel.clone(),
            ))
        }));
    }
    if channels.email.enabled {
        let e = &channels.email;
        let credentials = match (&e.username, &e.password) {
            (Some(u), Some(p)) => Some((
                secret("alerting.channels.email.username", &Some(u.clone()))?,
                secret("alerting.channels.email.password", &Some(p.clone()))?,
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
        out.push(spec("email", policy, move || {
            Box::new(EmailTransport::new(settings.clone()))
        }));
    }
    if channels.alertmanager.enabled {
        let url =
            channels.alertmanager.url.clone().ok_or_else(|| {
                Error::Start("alerting.channels.alertmanager.url is not set".into())
            })?;
        out.push(spec("alertmanager", policy, move || {
            Box::new(AlertmanagerTransport::new(&url, alertmanager_ttl))
        }));
    }
    Ok(out)
}
