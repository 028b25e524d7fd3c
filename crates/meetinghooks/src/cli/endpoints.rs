//! `meetinghooks endpoints …`: list, create, show, disable, enable and rotate endpoints over
//! the HTTP API.

use clap::Subcommand;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{outln, write_stdout, Answer, ApiClient, ClientArgs};
use super::table::{fields, table};

#[derive(clap::Args)]
pub struct EndpointsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the API's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: EndpointsCommand,
}

#[derive(Subcommand)]
enum EndpointsCommand {
    /// List the project's endpoints.
    List,
    /// Create an endpoint and print its signing secret.
    Create {
        /// Where webhooks are POSTed (http or https).
        #[arg(value_name = "ENDPOINT_URL")]
        endpoint_url: String,
        /// Webhook types or patterns (`*`, `participant-joined`, `recording-*`); repeat or
        /// separate with commas. Default: all.
        #[arg(long, value_delimiter = ',', value_name = "TYPES")]
        events: Vec<String>,
        /// A note for people.
        #[arg(long)]
        description: Option<String>,
        /// `meeting`: a meeting's webhooks arrive one after another (default); `none`:
        /// independently.
        #[arg(long, value_parser = ["meeting", "none"])]
        ordering: Option<String>,
    },
    /// Show one endpoint.
    Show { id: String },
    /// Stop delivering to an endpoint; its messages are kept as `skipped`.
    Disable { id: String },
    /// Deliver to a disabled endpoint again.
    Enable { id: String },
    /// Give an endpoint a new signing secret and print it; the old one keeps signing for a while.
    Rotate { id: String },
}

/// An endpoint as the API shows it, for text output.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    id: String,
    url: String,
    description: String,
    events: Vec<String>,
    ordering: String,
    rate_limit: Option<u32>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    retry_schedule: Option<Vec<f64>>,
    timeout_seconds: Option<u64>,
    disabled: bool,
    disabled_reason: Option<String>,
    last_success_at: Option<String>,
    created_at: String,
    updated_at: String,
    secret: Option<String>,
}

impl Endpoint {
    fn state(&self) -> String {
        match (&self.disabled, &self.disabled_reason) {
            (false, _) => "enabled".into(),
            (true, Some(reason)) => format!("disabled: {reason}"),
            (true, None) => "disabled".into(),
        }
    }

    fn fields(&self) -> String {
        let headers = if self.headers.is_empty() {
            "none".to_owned()
        } else {
            let names: Vec<&str> = self.headers.keys().map(String::as_str).collect();
            names.join(", ")
        };
        fields(&[
            ("id", self.id.clone()),
            ("url", self.url.clone()),
            ("description", self.description.clone()),
            ("events", self.events.join(", ")),
            ("ordering", self.ordering.clone()),
            ("state", self.state()),
            (
                "rate limit",
                self.rate_limit
                    .map_or("none".into(), |r| format!("{r} per second")),
            ),
            (
                "retry schedule",
                self.retry_schedule
                    .as_ref()
                    .map_or("the server's".into(), |s| {
                        let delays: Vec<String> = s.iter().map(|d| format!("{d} s")).collect();
                        delays.join(", ")
                    }),
            ),
            (
                "timeout",
                self.timeout_seconds
                    .map_or("the server's".into(), |t| format!("{t} s")),
            ),
            ("headers", headers),
            (
                "last success",
                self.last_success_at
                    .clone()
                    .unwrap_or_else(|| "never".into()),
            ),
            ("created", self.created_at.clone()),
            ("updated", self.updated_at.clone()),
        ])
    }
}

#[derive(Deserialize)]
struct EndpointList {
    data: Vec<Endpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rotated {
    secret: String,
    previous_secret_valid_until: Option<String>,
}

pub async fn run(args: EndpointsArgs) -> anyhow::Result<()> {
    let api = ApiClient::new(&args.client)?;
    let json = args.json;
    match args.command {
        EndpointsCommand::List => {
            let answer: Answer<EndpointList> = api.get(api.url(&["v1", "endpoints"], &[])).await?;
            if json {
                outln!("{}", answer.text);
            } else if answer.value.data.is_empty() {
                outln!("no endpoints yet; add one with `meetinghooks endpoints create URL`");
            } else {
                let rows: Vec<Vec<String>> = answer
                    .value
                    .data
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.clone(),
                            e.url.clone(),
                            e.events.join(","),
                            e.state(),
                            e.description.clone(),
                        ]
                    })
                    .collect();
                write_stdout(&table(
                    &["ID", "URL", "EVENTS", "STATE", "DESCRIPTION"],
                    &rows,
                ));
            }
        }
        EndpointsCommand::Create {
            endpoint_url,
            events,
            description,
            ordering,
        } => {
            let mut body = json!({ "url": endpoint_url });
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            if let Some(ordering) = ordering {
                body["ordering"] = json!(ordering);
            }
            let answer: Answer<Endpoint> = api
                .post(api.url(&["v1", "endpoints"], &[]), Some(body))
                .await?;
            if json {
                outln!("{}", answer.text);
            } else {
                let e = &answer.value;
                outln!("created endpoint {} for {}", e.id, e.url);
                outln!("events: {}; ordering: {}", e.events.join(", "), e.ordering);
                outln!("secret: {}", e.secret.as_deref().unwrap_or("-"));
                outln!("Receivers verify with the secret; keep it somewhere safe.");
            }
        }
        EndpointsCommand::Show { id } => {
            let answer: Answer<Endpoint> = api.get(api.url(&["v1", "endpoints", &id], &[])).await?;
            if json {
                outln!("{}", answer.text);
            } else {
                write_stdout(&answer.value.fields());
            }
        }
        EndpointsCommand::Disable { id } => {
            let answer: Answer<Endpoint> = api
                .patch(
                    api.url(&["v1", "endpoints", &id], &[]),
                    json!({"disabled": true}),
                )
                .await?;
            if json {
                outln!("{}", answer.text);
            } else {
                outln!(
                    "endpoint {id} disabled; its messages are kept as skipped until it is enabled"
                );
            }
        }
        EndpointsCommand::Enable { id } => {
            let answer: Answer<Value> = api
                .patch(
                    api.url(&["v1", "endpoints", &id], &[]),
                    json!({"disabled": false}),
                )
                .await?;
            if json {
                outln!("{}", answer.text);
            } else {
                outln!("endpoint {id} enabled");
            }
        }
        EndpointsCommand::Rotate { id } => {
            let answer: Answer<Rotated> = api
                .post(
                    api.url(&["v1", "endpoints", &id, "secret", "rotate"], &[]),
                    None,
                )
                .await?;
            if json {
                outln!("{}", answer.text);
            } else {
                outln!("new secret: {}", answer.value.secret);
                if let Some(until) = &answer.value.previous_secret_valid_until {
                    outln!("The previous secret keeps signing beside it until {until}.");
                }
            }
        }
    }
    Ok(())
}
