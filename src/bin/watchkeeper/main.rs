//! `watchkeeper`: check a configuration, print the default one, run the runtime with its admin
//! server until Ctrl-C or SIGTERM (reloading its configuration on SIGHUP), and operate a running
//! instance: list its alerts, add, list and expire silences, acknowledge alerts, test a channel,
//! and watch it live (`top`).

mod client;
mod operate;
mod top;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use watchkeeper::config::{Config, Severity, DEFAULT_RON};
use watchkeeper::Runtime;

/// In-process performance monitoring on supervised actors: configuration checks and a standalone run.
#[derive(Parser)]
#[command(name = "watchkeeper", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    target: Target,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file and show the deployment checklist.
    ///
    /// Exit status: 0 when valid (warnings allowed), 1 when it has errors, 2 when it cannot be read
    /// or parsed.
    Check {
        /// The RON configuration file.
        #[arg(required_unless_present = "config")]
        file: Option<PathBuf>,
        /// The same, written as `run` takes it.
        #[arg(long, conflicts_with = "file", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the default configuration (every field documented).
    DefaultConfig,
    /// Run the runtime and its admin server (health, readiness, /metrics) until Ctrl-C or SIGTERM,
    /// then shut down gracefully. SIGHUP reads the configuration file again and applies it.
    ///
    /// Silences, acknowledgements, alert states and the notification log are kept in a data
    /// directory: `--data-dir`, else `storage.path` (relative to the configuration file), else
    /// `watchkeeper-data` beside the configuration file (in the working directory without one).
    Run {
        /// The RON configuration file; the embedded default when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The data directory.
        #[arg(long, conflicts_with = "ephemeral")]
        data_dir: Option<PathBuf>,
        /// Keep nothing across restarts.
        #[arg(long)]
        ephemeral: bool,
        /// How long the graceful shutdown may take, written as in the configuration ("10s").
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        shutdown_timeout: Duration,
    },
    /// List the firing alerts of a running instance, those a silence or an inhibition rule mutes
    /// included (as `suppressed`).
    Alerts {
        /// Print the answer as JSON (Alertmanager's shape).
        #[arg(long)]
        json: bool,
    },
    /// Add, list or expire silences of a running instance.
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// Acknowledge a firing alert of a running instance: its escalation stops.
    Ack {
        /// The alert's fingerprint (16 hex digits, as `alerts` lists it).
        fingerprint: String,
        /// Who acknowledges.
        #[arg(long, default_value_t = user())]
        by: String,
    },
    /// Watch a running instance in the terminal: health, monitors (rates, p50/p99, a sparkline over
    /// the window), the actor tree and the alerts, refreshed every second.
    ///
    /// Keys: q quits, s cycles the monitors' order, r reverses it, / filters, t switches the
    /// sparkline between p99 and rate.
    Top {
        /// Print one plain-text frame to stdout and exit (no terminal needed).
        #[arg(long)]
        once: bool,
    },
    /// Send a test notification through one channel of a running instance and report its delivery.
    NotifyTest {
        /// The channel (`log`, `webhook`, a named channel, ...).
        #[arg(long)]
        channel: String,
    },
}

#[derive(Subcommand)]
enum SilenceAction {
    /// Silence the alerts matching every matcher (`alertname="X"`, `team=~"search|index"`).
    Add {
        /// Matchers, as Alertmanager writes them.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// Why.
        #[arg(long)]
        comment: String,
        /// For how long, written as in the configuration ("1h").
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        duration: Duration,
        /// Who.
        #[arg(long, default_value_t = user())]
        author: String,
    },
    /// List silences not yet ended (with `--expired`, the ended ones), optionally those that
    /// have the given matchers.
    Query {
        matchers: Vec<String>,
        /// List ended silences instead.
        #[arg(long)]
        expired: bool,
    },
    /// End silences now.
    Expire {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Which instance the operator commands (alerts, silence, ack, top, notify-test) talk to; given
/// before or after the command.
#[derive(clap::Args)]
struct Target {
    /// The running instance's admin server (operator commands).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The admin token mutating requests need (also read from WATCHKEEPER_TOKEN).
    #[arg(long, global = true, env = "WATCHKEEPER_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Target {
    fn admin(&self) -> Result<client::Admin, ExitCode> {
        client::Admin::new(&self.url, self.token.clone()).map_err(|e| {
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(2)
        })
    }
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "watchkeeper".into())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    watchkeeper::actors::duration_serde::parse(text)
}

/// Writes a line to stdout; a closed pipe (`watchkeeper check f.ron | head -1`) ends the output
/// quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        let _ = writeln!(std::io::stdout(), $($arg)*);
    };
}

fn check(file: &PathBuf) -> ExitCode {
    let (config, validation) = match Config::check_file(file) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            return ExitCode::from(2);
        }
    };
    for finding in &validation.findings {
        say!("{}", finding.in_file(file));
    }
    let count = |s, word: &str| match validation.of(s).count() {
        1 => format!("1 {word}"),
        n => format!("{n} {word}s"),
    };
    say!(
        "{}: {}, {}, {}\n\ndeployment checklist:",
        file.display(),
        count(Severity::Error, "error"),
        count(Severity::Warning, "warning"),
        count(Severity::Recommendation, "recommendation")
    );
    for item in config.checklist() {
        say!(
            "  [{}] {}",
            if item.complete { "x" } else { " " },
            item.item
        );
    }
    if validation.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(
    path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    ephemeral: bool,
    shutdown_timeout: Duration,
) -> ExitCode {
    let config = match path
        .as_ref()
        .map(Config::from_file)
        .unwrap_or_else(|| Ok(Config::default()))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            return ExitCode::from(2);
        }
    };
    let beside = path
        .as_ref()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    // The configuration keeps `storage` as written; the runtime is told the directory chosen.
    let data_dir = if ephemeral {
        None
    } else {
        Some(match (data_dir, config.storage.path.clone()) {
            (Some(dir), _) => dir,
            (None, Some(dir)) if dir.is_relative() => beside.join(dir),
            (None, Some(dir)) => dir,
            (None, None) => beside.join("watchkeeper-data"),
        })
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.deployment.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut builder = Runtime::builder().config(config).data_dir(data_dir.clone());
    if let Some(path) = &path {
        builder = builder.config_file(path);
    }
    let rt = match builder.start() {
        Ok(rt) => rt,
        // Each finding where it is written, as `check` shows them.
        Err(watchkeeper::Error::Invalid(validation)) if path.is_some() => {
            let file = path.as_deref().unwrap_or(Path::new(""));
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "invalid configuration:");
            for finding in &validation.findings {
                let _ = writeln!(err, "{}", finding.in_file(file));
            }
            return ExitCode::from(1);
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            return ExitCode::from(1);
        }
    };
    let kept = match &data_dir {
        Some(dir) => format!("state in {}", dir.display()),
        None => "nothing kept across restarts".to_owned(),
    };
    match rt.admin_addr() {
        Some(addr) => {
            say!("watchkeeper running; admin on http://{addr} (/health, /health/ready, /metrics); {kept}");
        }
        None => {
            say!("watchkeeper running; admin server disabled");
        }
    }
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|signals| signals.block_on(wait_for_signal(&rt, path.is_some())));
    if let Err(e) = waited {
        let _ = writeln!(
            std::io::stderr(),
            "cannot wait for signals ({e}); shutting down"
        );
    }
    say!("shutting down (at most {shutdown_timeout:?})");
    match rt.shutdown_blocking(shutdown_timeout) {
        Ok(report) => {
            say!("shut down: {} actors stopped", report.children.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(1)
        }
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM; on SIGHUP reloads the configuration file (when there
/// is one) and keeps waiting.
async fn wait_for_signal(rt: &Runtime, from_file: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => return r,
                _ = term.recv() => return Ok(()),
                _ = hup.recv() => {
                    if !from_file {
                        tracing::warn!("SIGHUP: started without --config, nothing to reload");
                        continue;
                    }
                    // A failed reload is logged (ERROR) and counted by the runtime itself.
                    if let Ok(report) = rt.reload_file().await {
                        tracing::info!(applied = ?report.applied, "Reloaded on SIGHUP");
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (rt, from_file);
        tokio::signal::ctrl_c().await
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // `--url` and `--token` name an instance to talk to: given to a command that talks to none,
    // they would be taken for settings of the instance `run` starts, and do nothing.
    if matches!(
        cli.command,
        Command::Check { .. } | Command::DefaultConfig | Command::Run { .. }
    ) {
        for flag in ["url", "token"] {
            if matches.value_source(flag) == Some(clap::parser::ValueSource::CommandLine) {
                let _ = writeln!(
                    std::io::stderr(),
                    "--{flag} is for the commands that talk to a running instance; `run` takes its address from deployment.health_check_port and its token from deployment.admin_token (Env(\"WATCHKEEPER_TOKEN\") reads the variable)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let command = match cli.command {
        Command::Check { file, config } => {
            return match file.or(config) {
                Some(file) => check(&file),
                None => ExitCode::from(2),
            }
        }
        Command::DefaultConfig => {
            let _ = std::io::stdout().write_all(DEFAULT_RON.as_bytes());
            return ExitCode::SUCCESS;
        }
        Command::Run {
            config,
            data_dir,
            ephemeral,
            shutdown_timeout,
        } => return run(config, data_dir, ephemeral, shutdown_timeout),
        operator => operator,
    };
    // the rest talk to a running instance
    let admin = match cli.target.admin() {
        Ok(admin) => admin,
        Err(code) => return code,
    };
    match command {
        Command::Alerts { json } => operate::alerts(&admin, json),
        Command::Ack { fingerprint, by } => operate::ack(&admin, &fingerprint, &by),
        Command::Top { once } => top::run(admin, &cli.target.url, once),
        Command::NotifyTest { channel } => operate::notify_test(&admin, &channel),
        Command::Silence { action } => match action {
            SilenceAction::Add {
                matchers,
                comment,
                duration,
                author,
            } => operate::silence_add(&admin, &matchers, &comment, duration, &author),
            SilenceAction::Query { matchers, expired } => {
                operate::silence_query(&admin, &matchers, expired)
            }
            SilenceAction::Expire { ids } => operate::silence_expire(&admin, &ids),
        },
        Command::Check { .. } | Command::DefaultConfig | Command::Run { .. } => {
            unreachable!("answered above")
        }
    }
}
