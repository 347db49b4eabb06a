//! Email over SMTP (lettre): one message per notification to every recipient. Credentials may be
//! secrets: they never appear in errors or logs.
//!
//! One mailer serves every send of a channel: it is built on the first send and keeps its SMTP
//! connection open between sends (lettre's pool: at most two connections, closed after a minute
//! idle), so a burst of notifications costs one connection and one handshake, not one per message.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Notification, SendFailure, SmtpSecurity, Transport};

/// Where and how to send.
#[derive(Clone)]
pub struct EmailSettings {
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// User name and password, resolved.
    pub credentials: Option<(String, String)>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// Sends notifications as plain-text email.
pub struct EmailTransport {
    settings: EmailSettings,
    /// The mailer, built on the first send with that send's timeout.
    mailer: RefCell<Option<Mailer>>,
}

impl EmailTransport {
    /// A transport with `settings`.
    pub fn new(settings: EmailSettings) -> Self {
        EmailTransport {
            settings,
            mailer: RefCell::new(None),
        }
    }

    /// The channel's mailer; it is cheap to clone and its clones share the connection pool.
    fn mailer(&self, timeout: Duration) -> Result<Mailer, SendFailure> {
        if let Some(mailer) = self.mailer.borrow().as_ref() {
            return Ok(mailer.clone());
        }
        let mailer = self.build(timeout)?;
        *self.mailer.borrow_mut() = Some(mailer.clone());
        Ok(mailer)
    }

    fn build(&self, timeout: Duration) -> Result<Mailer, SendFailure> {
        let s = &self.settings;
        let builder = match s.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| permanent(format!("SMTP setup: {e}")))?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                .map_err(|e| permanent(format!("SMTP setup: {e}")))?,
        };
        let mut builder = builder.port(s.port).timeout(Some(timeout)).pool_config(
            PoolConfig::new()
                .max_size(2)
                .idle_timeout(Duration::from_secs(60)),
        );
        if let Some((user, password)) = &s.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// Most characters of a subject: a group's labels may be long, and a header line past 998
/// characters (RFC 5322, 2.1.1) is refused by mail servers; the body lists every alert in full.
const MAX_SUBJECT_CHARS: usize = 200;

/// `title` cut to [`MAX_SUBJECT_CHARS`], with an ellipsis where it was cut.
fn subject(title: &str) -> String {
    match title.char_indices().nth(MAX_SUBJECT_CHARS) {
        Some((at, _)) => format!("{}…", &title[..at]),
        None => title.to_owned(),
    }
}

fn permanent(message: String) -> SendFailure {
    SendFailure {
        retryable: false,
        retry_after: None,
        message,
    }
}

impl Transport for EmailTransport {
    fn send(
        &self,
        n: &Notification,
        timeout: Duration,
    ) -> LocalBoxFuture<'static, Result<(), SendFailure>> {
        let s = &self.settings;
        let message = (|| {
            let mut builder = lettre::Message::builder()
                .from(
                    s.from
                        .parse()
                        .map_err(|e| permanent(format!("sender address: {e}")))?,
                )
                .subject(subject(&n.title()))
                .message_id(None)
                .header(MIME_VERSION_1_0)
                .header(ContentType::TEXT_PLAIN);
            for to in &s.to {
                builder = builder.to(to
                    .parse()
                    .map_err(|e| permanent(format!("recipient address: {e}")))?);
            }
            builder
                .body(n.text())
                .map_err(|e| permanent(format!("message: {e}")))
        })();
        let mailer = self.mailer(timeout);
        Box::pin(async move {
            let mailer = mailer?;
            let message = message?;
            match mailer.send(message).await {
                Ok(_) => Ok(()),
                Err(e) => Err(SendFailure {
                    retryable: !e.is_permanent(),
                    retry_after: None,
                    message: if e.is_permanent() {
                        "the SMTP server refused the message".into()
                    } else {
                        format!(
                            "SMTP delivery failed: {}",
                            if e.is_timeout() {
                                "timed out".to_owned()
                            } else {
                                e.to_string()
                            }
                        )
                    },
                }),
            }
        })
    }
}
