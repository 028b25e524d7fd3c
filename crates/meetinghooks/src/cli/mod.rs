//! The command line: `serve`, `project create`, `simulate` and `listen`.

mod client;
mod completions;
mod endpoints;
mod listen;
mod messages;
mod simulate;
mod simulate_livekit;
mod table;
mod tail;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, Loaded, LogFormat};
use crate::domain::ids::{generate_api_key, sha256};
use crate::store::StoreError;

#[derive(Parser)]
#[command(
    name = "meetinghooks",
    version,
    about = "Meeting signals in, signed webhooks out"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// TOML config file; `MEETINGHOOKS_*` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on, overriding the config.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Log more: -v debug, -vv trace (RUST_LOG still wins).
        #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
        verbose: u8,
        /// Log less: -q warnings and errors, -qq errors only.
        #[arg(short, long, action = clap::ArgAction::Count)]
        quiet: u8,
    },
    /// Manage projects (tenants).
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Drive realistic meetings into a running server and print what it emitted.
    Simulate(simulate::SimulateArgs),
    /// A local webhook receiver for development: verifies, pretty-prints, forwards.
    Listen(listen::ListenArgs),
    /// Manage webhook endpoints through the API of a running server.
    Endpoints(endpoints::EndpointsArgs),
    /// Inspect and resend messages (one per event and endpoint) through the API.
    Messages(messages::MessagesArgs),
    /// Print events as the server commits them, until Ctrl-C.
    Tail(tail::TailArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print a new random `secret_key` (32 bytes, base64) for sealing secrets at rest.
    SecretKey,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its API key (shown once).
    ///
    /// Writes to the database the configuration names (`database_url`), so pass the same
    /// `--config` as `serve`, from the same folder.
    Create {
        /// The project's name, unique on this server.
        name: String,
        /// The server's TOML config file, to find its database; `MEETINGHOOKS_*` variables
        /// override it, as for `serve`.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Create the SQLite database when it does not exist yet (otherwise a missing file is
        /// an error: it usually means another folder or config than the server's).
        #[arg(long)]
        create_database: bool,
    },
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve {
                config,
                listen,
                verbose,
                quiet,
            } => {
                let Loaded {
                    mut config,
                    warnings,
                } = Config::load(config.as_deref())?;
                if let Some(listen) = listen {
                    config.listen = listen;
                }
                let filter = match (verbose, quiet) {
                    (0, 0) => config.log.clone(),
                    (1, _) => "debug".into(),
                    (v, _) if v > 1 => "trace".into(),
                    (_, 1) => "warn".into(),
                    _ => "error".into(),
                };
                init_tracing(&filter, config.log_format);
                for warning in warnings {
                    tracing::warn!("{warning}");
                }
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("binding {}", config.listen))?;
                crate::run(config, listener, shutdown_signal()).await
            }
            Command::Project {
                command:
                    ProjectCommand::Create {
                        name,
                        config,
                        create_database,
                    },
            } => {
                let Loaded { config, warnings } = Config::load(config.as_deref())?;
                for warning in warnings {
                    eprintln!("warning: {warning}");
                }
                let missing = match create_database {
                    true => MissingDatabase::Create,
                    false => MissingDatabase::Refuse,
                };
                let database = describe_database(&config, missing)?;
                let store = crate::app::open_store(&config).await?;
                let key = generate_api_key();
                let project = store
                    .create_project(&name, sha256(key.as_bytes()))
                    .await
                    .map_err(|e| match e {
                        StoreError::Busy(taken) => anyhow::anyhow!("{taken} in {database}"),
                        other => anyhow::Error::new(other).context("creating the project"),
                    })?;
                crate::videosdk::ensure_project_keys(&*store, &project.id)
                    .await
                    .context("generating the project's RSA key")?;
                println!(
                    "project {} ({}) created in {database}",
                    project.name, project.id
                );
                println!("api key: {key}");
                println!("The key is shown only this once; store it now.");
                Ok(())
            }
            Command::Simulate(args) => simulate::run(args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Endpoints(args) => endpoints::run(args).await,
            Command::Messages(args) => messages::run(args).await,
            Command::Tail(args) => tail::run(args).await,
            Command::Completions(args) => {
                completions::run(args);
                Ok(())
            }
            Command::SecretKey => {
                println!("{}", crate::sealing::generate_key());
                Ok(())
            }
        }
    }
}

/// What `project create` does when its SQLite file does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingDatabase {
    Refuse,
    /// `--create-database`: start a new one.
    Create,
}

/// Names the database `project create` writes to, refusing to create a SQLite file silently.
fn describe_database(config: &Config, missing: MissingDatabase) -> anyhow::Result<String> {
    let Some(path) = config.database_url.strip_prefix("sqlite://") else {
        return Ok(config.redacted_database_url());
    };
    let path = std::path::Path::new(path);
    let shown = std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string();
    if !path.exists() && missing == MissingDatabase::Refuse {
        anyhow::bail!(
            "no database at {shown}: run this from the folder where `meetinghooks serve` runs, \
             with the same --config, or pass --create-database to start a new one"
        );
    }
    Ok(shown)
}

fn init_tracing(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        // Colours only for a person at a terminal, never into a redirected file.
        LogFormat::Text => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
    };
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
}
