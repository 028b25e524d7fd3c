//! `meetinghooks tail`: prints events as the server commits them, by polling the event log.

use std::time::Duration;

use serde::Deserialize;

use super::client::{outln, Answer, ApiClient, ClientArgs, ClientError, RawPage};

/// Events asked for per poll; a full page is followed at once by the next.
const PAGE: usize = 500;

#[derive(clap::Args)]
pub struct TailArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print each event as the API's JSON, one per line.
    #[arg(long)]
    json: bool,
    /// Only this meeting's events.
    #[arg(long, value_name = "MEETING_ID")]
    meeting: Option<String>,
    /// Print the whole log first, then follow; by default only events from now on.
    #[arg(long)]
    from_start: bool,
    /// How often to ask for new events.
    #[arg(long, default_value = "1s", value_parser = super::simulate::parse_duration)]
    interval: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    id: String,
    meeting_id: String,
    sequence: u64,
    webhook_type: String,
    payload: Box<serde_json::value::RawValue>,
    created_at: String,
}

/// Follows the log until Ctrl-C.
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let api = ApiClient::new(&args.client)?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        result = follow(&api, &args) => result,
    }
}

async fn follow(api: &ApiClient, args: &TailArgs) -> anyhow::Result<()> {
    let follow = if args.from_start { "all" } else { "new" };
    let limit = PAGE.to_string();
    let mut cursor: Option<String> = None;
    // Whether the last poll failed to connect, so a server restart is said once.
    let mut lost = false;
    loop {
        let mut query = vec![("follow", follow), ("limit", limit.as_str())];
        if let Some(meeting) = &args.meeting {
            query.push(("meetingId", meeting));
        }
        if let Some(after) = &cursor {
            query.push(("after", after));
        }
        let url = api.url(&["v1", "events"], &query);
        let page: Answer<RawPage> = match api.get(url).await {
            Ok(page) => page,
            // Once following, a restarting server is waited for.
            Err(err @ (ClientError::Unreachable { .. } | ClientError::Transport(_)))
                if cursor.is_some() =>
            {
                if !lost {
                    eprintln!("{err} (trying again every {:?})", args.interval);
                    lost = true;
                }
                tokio::time::sleep(args.interval).await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if lost {
            eprintln!("reached {} again", api.base());
            lost = false;
        }
        if cursor.is_none() {
            let what = args
                .meeting
                .as_ref()
                .map_or("events".to_owned(), |m| format!("events of meeting {m}"));
            let when = if args.from_start {
                "from the start"
            } else {
                "from now on"
            };
            eprintln!("following {what} at {} {when}; Ctrl-C stops", api.base());
        }
        let full = page.value.data.len() >= PAGE;
        for raw in &page.value.data {
            if args.json {
                outln!("{}", raw.get());
            } else {
                let e: Event = serde_json::from_str(raw.get())?;
                outln!(
                    "{} {} {} #{:<3} {:<20} {}",
                    e.created_at,
                    e.id,
                    e.meeting_id,
                    e.sequence,
                    e.webhook_type,
                    e.payload
                );
            }
        }
        cursor = Some(page.value.next_cursor.ok_or_else(|| {
            anyhow::anyhow!("{} does not support following the event log", api.base())
        })?);
        if !full {
            tokio::time::sleep(args.interval).await;
        }
    }
}
