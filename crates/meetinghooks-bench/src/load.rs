//! The load generator: `participant.joined` signals through the public API, each with a
//! unique participant id that the receivers key arrivals by.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::server::KEY;

/// The participant ids of `count` joins spread round-robin over `meetings`.
pub fn participants(run: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{run}-{i}")).collect()
}

fn batch_body(run: &str, meetings: usize, ids: &[String], offset: usize) -> String {
    let mut body = String::with_capacity(ids.len() * 160 + 16);
    body.push_str("{\"signals\":[");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let meeting = (offset + i) % meetings;
        body.push_str(&format!(
            r#"{{"id":"{id}","type":"participant.joined","meetingId":"{run}-m{meeting}","participantId":"{id}","participantName":"Name {id}"}}"#
        ));
    }
    body.push_str("]}");
    body
}

/// When each participant's signal was sent.
pub type SendLog = HashMap<String, Instant>;

/// Sends every join as fast as `concurrency` requests of `batch` signals allow, the requests
/// round-robin over `urls` (the ingest URLs of the nodes of a cluster, or just one).
pub async fn blast(
    client: &reqwest::Client,
    urls: &[String],
    run: &str,
    meetings: usize,
    ids: &[String],
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<SendLog> {
    if urls.is_empty() {
        bail!("no ingest URL to send to");
    }
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut sent = SendLog::with_capacity(ids.len());
    for (n, chunk) in ids.chunks(batch).enumerate() {
        let permit = gate.clone().acquire_owned().await?;
        let body = batch_body(run, meetings, chunk, n * batch);
        let request = client
            .post(&urls[n % urls.len()])
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body);
        let at = Instant::now();
        for id in chunk {
            sent.insert(id.clone(), at);
        }
        tasks.spawn(async move {
            let status = request.send().await.map(|r| r.status().as_u16());
            drop(permit);
            status
        });
        while let Some(done) = tasks.try_join_next() {
            check(done?)?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        check(done?)?;
    }
    Ok(sent)
}

fn check(status: reqwest::Result<u16>) -> anyhow::Result<()> {
    match status {
        Ok(202) => Ok(()),
        Ok(other) => bail!("ingest answered {other}"),
        Err(e) => bail!("ingest failed: {e}"),
    }
}

/// Sends `rate` joins per second for `duration`, one request per millisecond tick.
pub async fn paced(
    client: &reqwest::Client,
    url: &str,
    run: &str,
    meetings: usize,
    rate: usize,
    duration: Duration,
) -> anyhow::Result<SendLog> {
    let per_tick = (rate / 1000).max(1);
    let ticks = duration.as_millis() as usize * rate.min(1000) / 1000;
    let step = Duration::from_micros(1_000_000 * per_tick as u64 / rate as u64);
    let ids = participants(run, ticks * per_tick);
    let mut sent = SendLog::with_capacity(ids.len());
    let mut tasks = JoinSet::new();
    let start = tokio::time::Instant::now();
    for (n, chunk) in ids.chunks(per_tick).enumerate() {
        tokio::time::sleep_until(start + step * n as u32).await;
        let request = client
            .post(url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(batch_body(run, meetings, chunk, n * per_tick));
        let at = Instant::now();
        for id in chunk {
            sent.insert(id.clone(), at);
        }
        tasks.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
        while let Some(done) = tasks.try_join_next() {
            check(done?)?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        check(done?)?;
    }
    Ok(sent)
}
