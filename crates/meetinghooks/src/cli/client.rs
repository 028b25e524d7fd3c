//! The HTTP client of the operator commands: `--url` and `--api-key`, API errors as one line,
//! and a refused connection as a question about `serve`.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// How long one API call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server is and which project to act for; shared by every client command.
#[derive(clap::Args, Clone)]
pub struct ClientArgs {
    /// Base URL of a running `meetinghooks serve`.
    #[arg(
        long,
        global = true,
        env = "MEETINGHOOKS_URL",
        default_value = "http://127.0.0.1:8080",
        // Without it, help shows a stray `=` when the variable is unset.
        hide_env_values = true
    )]
    pub url: String,
    /// API key of the project to act for.
    // Hidden so `--help` does not print the key taken from the environment.
    #[arg(
        long,
        global = true,
        env = "MEETINGHOOKS_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
}

/// Why a call failed, worded for the terminal.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing answered at the URL.
    Unreachable { url: String },
    /// The API answered with an error of its own.
    Api { code: String, message: String },
    /// The connection failed after it was made, or the answer did not arrive in time.
    Transport(String),
    /// Anything else: a bad option, a timeout, an answer that is not the API's.
    Other(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { url } => {
                write!(f, "cannot reach {url}: is `meetinghooks serve` running?")
            }
            ClientError::Api { code, message } => write!(f, "{code}: {message}"),
            ClientError::Transport(message) | ClientError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ClientError {}

/// An answer: the exact JSON text (what `--json` prints) and its parsed form.
pub struct Answer<T> {
    pub text: String,
    pub value: T,
}

/// A page of a listing with each item kept as sent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPage {
    pub data: Vec<Box<RawValue>>,
    pub next_cursor: Option<String>,
}

pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    key: String,
}

impl ApiClient {
    pub fn new(args: &ClientArgs) -> Result<ApiClient, ClientError> {
        let key = args
            .api_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                ClientError::Other("no API key: pass --api-key or set MEETINGHOOKS_API_KEY".into())
            })?;
        let base = Url::parse(&args.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                ClientError::Other(format!(
                    "invalid --url {:?}: expected e.g. http://127.0.0.1:8080",
                    args.url
                ))
            })?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Other(format!("building the HTTP client: {e}")))?;
        Ok(ApiClient { http, base, key })
    }

    /// The server's base URL as given.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of `segments` under the base, each segment percent-encoded, with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new: the base URL has a path")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<Answer<T>, ClientError> {
        self.call(Method::GET, url, None).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        url: Url,
        body: Option<Value>,
    ) -> Result<Answer<T>, ClientError> {
        self.call(Method::POST, url, body).await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        url: Url,
        body: Value,
    ) -> Result<Answer<T>, ClientError> {
        self.call(Method::PATCH, url, Some(body)).await
    }

    /// POSTs `body` exactly as given, authorised by `authorization` (a media server's own
    /// signature, e.g. LiveKit's JWT) instead of the API key.
    pub async fn post_signed<T: DeserializeOwned>(
        &self,
        url: Url,
        body: Vec<u8>,
        authorization: String,
    ) -> Result<Answer<T>, ClientError> {
        let request = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/webhook+json")
            .body(body);
        self.answer(request, url).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<Answer<T>, ClientError> {
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request, url).await
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: Url,
    ) -> Result<Answer<T>, ClientError> {
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(api_error(status, &text));
        }
        let value = serde_json::from_str(&text).map_err(|e| {
            ClientError::Other(format!(
                "unexpected answer from {url} ({e}); is {} a meetinghooks server?",
                self.base()
            ))
        })?;
        Ok(Answer { text, value })
    }

    fn transport(&self, err: reqwest::Error) -> ClientError {
        if err.is_connect() {
            ClientError::Unreachable {
                url: self.base().to_owned(),
            }
        } else if err.is_timeout() {
            ClientError::Transport(format!(
                "{} did not answer within {} s",
                self.base(),
                REQUEST_TIMEOUT.as_secs()
            ))
        } else {
            // reqwest's own message omits the cause; the chain has it.
            ClientError::Transport(format!("{:#}", anyhow::Error::new(err)))
        }
    }
}

/// `{"error":{"code","message"}}`, or for anything else the status and the start of the body.
fn api_error(status: StatusCode, text: &str) -> ClientError {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: String,
        message: String,
    }
    match serde_json::from_str::<Body>(text) {
        Ok(body) => ClientError::Api {
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => {
            let start: String = text.trim().chars().take(200).collect();
            ClientError::Other(format!("the server answered {status}: {start}"))
        }
    }
}

/// Writes to stdout. A closed pipe (`… | head`) ends the program quietly rather than in a
/// panic, as `println!` would.
pub fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(err) => {
            eprintln!("error: writing to stdout: {err}");
            std::process::exit(1);
        }
    }
}

/// `println!` through [`write_stdout`].
macro_rules! outln {
    () => {
        $crate::cli::client::write_stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::client::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;
