//! `watchkeeper`: check a configuration, print the default one, or run the runtime with its admin
//! server until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use watchkeeper::config::{Config, Severity, DEFAULT_RON};
use watchkeeper::Runtime;

/// In-process performance monitoring on supervised actors: configuration checks and a standalone run.
#[derive(Parser)]
#[command(name = "watchkeeper", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file and show the deployment checklist.
    ///
    /// Exit status: 0 when valid (warnings allowed), 1 when it has errors, 2 when it cannot be read
    /// or parsed.
    Check {
        /// The RON configuration file.
        file: PathBuf,
    },
    /// Print the default configuration (every field documented).
    DefaultConfig,
    /// Run the runtime and its admin server (health, readiness, /metrics) until Ctrl-C or SIGTERM,
    /// then shut down gracefully.
    Run {
        /// The RON configuration file; the embedded default when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long the graceful shutdown may take, e.g. "10s".
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        shutdown_timeout: Duration,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    watchkeeper::actors::duration_serde::parse(text)
}

fn check(file: &PathBuf) -> ExitCode {
    let config = match Config::from_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let validation = config.validate();
    for finding in &validation.findings {
        println!("{finding}");
    }
    let count = |s| validation.of(s).count();
    println!(
        "{}: {} errors, {} warnings, {} recommendations\n\ndeployment checklist:",
        file.display(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Recommendation)
    );
    for item in config.checklist() {
        println!(
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

fn run(config: Option<PathBuf>, shutdown_timeout: Duration) -> ExitCode {
    let config = match config
        .map(Config::from_file)
        .unwrap_or_else(|| Ok(Config::default()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.deployment.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match Runtime::start(config) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match rt.admin_addr() {
        Some(addr) => println!(
            "watchkeeper running; admin on http://{addr} (/health, /health/ready, /metrics)"
        ),
        None => println!("watchkeeper running; admin server disabled"),
    }
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|signals| signals.block_on(wait_for_signal()));
    if let Err(e) = waited {
        eprintln!("cannot wait for signals ({e}); shutting down");
    }
    println!("shutting down (at most {shutdown_timeout:?})");
    match rt.shutdown(shutdown_timeout) {
        Ok(report) => {
            println!("shut down: {} actors stopped", report.children.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file } => check(&file),
        Command::DefaultConfig => {
            print!("{DEFAULT_RON}");
            ExitCode::SUCCESS
        }
        Command::Run {
            config,
            shutdown_timeout,
        } => run(config, shutdown_timeout),
    }
}
