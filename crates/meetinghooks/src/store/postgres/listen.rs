//! Changes across nodes: after a commit a node NOTIFYs the others, and each node LISTENs on a
//! dedicated connection (pooled ones cannot receive notifications), so an idle node starts
//! work another node created within milliseconds instead of at its next poll.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::changes::{ChangeHub, Changes, Outbound};

/// The one channel every node of a database uses.
const CHANNEL: &str = "meetinghooks";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Sends what this node announced to the others. Not inside the data transaction: a
/// transaction that issued NOTIFY takes a cluster-wide lock at commit, which would serialise
/// every ingest. After the commit, so nobody hears of uncommitted work; a node that dies in
/// between is covered by the others' `shared_poll`. Announcements made while one NOTIFY is
/// on its way are sent together in the next.
pub async fn notify(
    pool: Pool,
    outbound: Arc<Outbound>,
    node: String,
    mut stop: watch::Receiver<()>,
) {
    loop {
        let changes = tokio::select! {
            changes = outbound.take() => changes,
            _ = stop.changed() => return,
        };
        let payload = format!("{node}:{}", changes.letters());
        let sent = async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            client
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(error) = sent.await {
            // The others resynchronise when their listening connection comes back.
            tracing::debug!(%error, "notifying other nodes failed");
        }
    }
}

/// Hears the other nodes' announcements and tells this node's subscribers. Reconnects with
/// backoff; after each (re)connection everything is announced locally, since changes made
/// while nobody listened were missed.
pub async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    hub: Arc<ChangeHub>,
    node: String,
    mut stop: watch::Receiver<()>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let heard = tokio::select! {
            heard = listen_once(&config, &tls, &hub, &node, &mut backoff) => heard,
            _ = stop.changed() => return,
        };
        if let Err(error) = heard {
            tracing::warn!(%error, retry_in = ?backoff, "listening for other nodes' changes failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One listening connection, until it breaks; once it listens, the backoff starts over.
async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    hub: &ChangeHub,
    node: &str,
    backoff: &mut Duration,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let (heard, mut hearing) = mpsc::unbounded_channel();
    // The connection must be driven for `LISTEN` to complete and for notifications to arrive.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if heard.send(n.payload().to_owned()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    *backoff = FIRST_BACKOFF;
    hub.publish(Changes::ALL);
    while let Some(payload) = hearing.recv().await {
        match payload.split_once(':') {
            Some((sender, _)) if sender == node => {}
            Some((_, letters)) => hub.publish(Changes::from_letters(letters)),
            None => hub.publish(Changes::ALL),
        }
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
