//! `meetinghooks messages …`: list messages, show one with its attempts, resend one, over the
//! HTTP API.

use clap::Subcommand;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::MessageStatus;

use super::client::{outln, write_stdout, Answer, ApiClient, ClientArgs, RawPage};
use super::table::{cell, fields, table};

#[derive(clap::Args)]
pub struct MessagesArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the API's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: MessagesCommand,
}

#[derive(Subcommand)]
enum MessagesCommand {
    /// List messages (one per event and endpoint), oldest first.
    List {
        /// Only this endpoint's messages.
        #[arg(long, value_name = "ID")]
        endpoint: Option<String>,
        /// Only this meeting's messages.
        #[arg(long, value_name = "MEETING_ID")]
        meeting: Option<String>,
        /// Only messages in this state.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(MessageStatus::ALL.map(MessageStatus::as_str)))]
        status: Option<String>,
        /// At most this many (1-500; the server's default is 50).
        #[arg(long)]
        limit: Option<u16>,
        /// Continue after this cursor (printed when more follow).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
    },
    /// Show one message and every attempt to deliver it.
    Show { id: String },
    /// Deliver a message again now, with the same `webhook-id`, and print the attempt.
    Resend { id: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: String,
    endpoint_id: String,
    event_id: String,
    meeting_id: String,
    sequence: u64,
    webhook_type: String,
    status: String,
    attempts: u32,
    next_attempt_at: Option<String>,
    last_attempt_at: Option<String>,
    last_status_code: Option<u16>,
    last_error: Option<String>,
    created_at: String,
}

impl Message {
    /// The last attempt's outcome in a few words.
    fn last_outcome(&self) -> String {
        match (&self.last_status_code, &self.last_error) {
            (Some(code), _) => code.to_string(),
            (None, Some(error)) => error.clone(),
            (None, None) => "-".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    attempted_at: String,
    duration_ms: u64,
    status_code: Option<u16>,
    error_kind: Option<String>,
    response_body: String,
}

impl Attempt {
    fn outcome(&self) -> String {
        match (&self.status_code, &self.error_kind) {
            (Some(code), _) => code.to_string(),
            (None, Some(kind)) => kind.clone(),
            (None, None) => "-".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

pub async fn run(args: MessagesArgs) -> anyhow::Result<()> {
    let api = ApiClient::new(&args.client)?;
    match args.command {
        MessagesCommand::List {
            endpoint,
            meeting,
            status,
            limit,
            after,
        } => {
            let limit = limit.map(|l| l.to_string());
            let query: Vec<(&str, &str)> = [
                ("endpointId", endpoint.as_deref()),
                ("meetingId", meeting.as_deref()),
                ("status", status.as_deref()),
                ("limit", limit.as_deref()),
                ("after", after.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
            let answer: Answer<Page<Message>> =
                api.get(api.url(&["v1", "messages"], &query)).await?;
            if args.json {
                outln!("{}", answer.text);
                return Ok(());
            }
            let page = answer.value;
            if page.data.is_empty() {
                outln!("no messages");
            } else {
                let rows: Vec<Vec<String>> = page
                    .data
                    .iter()
                    .map(|m| {
                        vec![
                            m.id.clone(),
                            m.status.clone(),
                            m.attempts.to_string(),
                            m.last_outcome(),
                            m.webhook_type.clone(),
                            format!("{} #{}", m.meeting_id, m.sequence),
                            m.endpoint_id.clone(),
                            m.created_at.clone(),
                        ]
                    })
                    .collect();
                write_stdout(&table(
                    &[
                        "ID", "STATUS", "ATTEMPTS", "LAST", "TYPE", "MEETING", "ENDPOINT",
                        "CREATED",
                    ],
                    &rows,
                ));
            }
            if let Some(cursor) = page.next_cursor {
                eprintln!("more messages follow: add --after {cursor}");
            }
        }
        MessagesCommand::Show { id } => {
            let message: Answer<Message> = api.get(api.url(&["v1", "messages", &id], &[])).await?;
            let mut attempts: Vec<Box<RawValue>> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut query = vec![("limit", "500")];
                if let Some(cursor) = &after {
                    query.push(("after", cursor));
                }
                let page: Answer<RawPage> = api
                    .get(api.url(&["v1", "messages", &id, "attempts"], &query))
                    .await?;
                attempts.extend(page.value.data);
                match page.value.next_cursor {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
            if args.json {
                // Two answers in one document, each exactly as the API sent it.
                let attempts = serde_json::to_string(&attempts)?;
                outln!(
                    "{{\"message\":{},\"attempts\":{attempts}}}",
                    message.text.trim()
                );
                return Ok(());
            }
            let m = &message.value;
            write_stdout(&fields(&[
                ("id", m.id.clone()),
                ("status", m.status.clone()),
                ("type", m.webhook_type.clone()),
                ("meeting", format!("{} #{}", m.meeting_id, m.sequence)),
                ("event", m.event_id.clone()),
                ("endpoint", m.endpoint_id.clone()),
                ("attempts", m.attempts.to_string()),
                (
                    "next attempt",
                    m.next_attempt_at.clone().unwrap_or_else(|| "-".into()),
                ),
                (
                    "last attempt",
                    m.last_attempt_at.clone().unwrap_or_else(|| "-".into()),
                ),
                ("last outcome", m.last_outcome()),
                ("created", m.created_at.clone()),
            ]));
            if attempts.is_empty() {
                outln!("\nno attempts yet");
                return Ok(());
            }
            let rows = attempts
                .iter()
                .map(|raw| {
                    let a: Attempt = serde_json::from_str(raw.get())?;
                    Ok(vec![
                        a.attempted_at.clone(),
                        a.outcome(),
                        format!("{} ms", a.duration_ms),
                        cell(&a.response_body, 60),
                    ])
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            outln!();
            write_stdout(&table(&["ATTEMPTED", "OUTCOME", "TOOK", "ANSWER"], &rows));
        }
        MessagesCommand::Resend { id } => {
            let answer: Answer<Attempt> = api
                .post(api.url(&["v1", "messages", &id, "resend"], &[]), None)
                .await?;
            if args.json {
                outln!("{}", answer.text);
            } else {
                let a = &answer.value;
                outln!("resent {id}: {} in {} ms", a.outcome(), a.duration_ms);
            }
        }
    }
    Ok(())
}
