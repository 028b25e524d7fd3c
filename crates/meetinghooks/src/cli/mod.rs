//! The command line: `serve`, `project create`, `simulate` and `listen`.

mod client;
mod completions;
mod endpoints;
mod listen;
mod messages;
mod simulate;
mod table;
mod tail;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::domain::ids::{generate_api_key, sha256};

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
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its API key (shown once).
    Create {
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve { config, listen } => {
                let mut config = Config::load(config.as_deref())?;
                if let Some(listen) = listen {
                    config.listen = listen;
                }
                init_tracing(&config.log);
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("binding {}", config.listen))?;
                crate::run(config, listener, shutdown_signal()).await
            }
            Command::Project {
                command: ProjectCommand::Create { name, config },
            } => {
                let config = Config::load(config.as_deref())?;
                let store = crate::app::open_store(&config).await?;
                let key = generate_api_key();
                let project = store
                    .create_project(&name, sha256(key.as_bytes()))
                    .await
                    .context("creating the project (is the name taken?)")?;
                println!("project {} ({}) created", project.name, project.id);
                println!("api key: {key}");
                println!("The key is shown only this once; store it now.");
                Ok(())
            }
            Command::Simulate(args) => simulate::run(args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Endpoints(args) => client::finish(endpoints::run(args).await),
            Command::Messages(args) => client::finish(messages::run(args).await),
            Command::Tail(args) => client::finish(tail::run(args).await),
            Command::Completions(args) => {
                completions::run(args);
                Ok(())
            }
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
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
