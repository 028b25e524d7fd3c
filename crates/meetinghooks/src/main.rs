//! The `meetinghooks` binary: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    meetinghooks::cli::Cli::parse().run().await
}
