//! `meetinghooks completions <shell>`: prints a shell completion script for the whole CLI.

use clap::CommandFactory;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    shell: clap_complete::Shell,
}

/// Writes the script to stdout, e.g. for
/// `meetinghooks completions bash > ~/.local/share/bash-completion/completions/meetinghooks`.
pub fn run(args: CompletionsArgs) {
    let mut command = super::Cli::command();
    // Into memory first: `generate` panics when its writer fails, e.g. on a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "meetinghooks", &mut script);
    super::client::write_stdout(&String::from_utf8_lossy(&script));
}
