//! Resealing at start, written once: secrets stored before sealing, or under an older key,
//! sealed with the current one (URL credentials included; rooms' shown webhook settings lose
//! theirs). Each table is a read and a pure plan per row; each store runs
//! the plans in one transaction of its own (PostgreSQL's under the migration lock, with the
//! rows locked).

use std::collections::BTreeMap;

use super::query::{args, Row, Step};
use super::rows::Columns;
use super::{StoreError, StoreResult};
use crate::sealing::{SealError, Sealer};

/// One table's sealed columns: the rows to look at, and the update a stale row needs.
pub(crate) struct Reseal {
    pub(crate) select: &'static str,
    pub(crate) plan: fn(&Sealer, &Row) -> StoreResult<Option<Step>>,
}

pub(crate) const TABLES: [Reseal; 5] = [
    Reseal {
        select: "SELECT id, secret, secret_previous, headers, url FROM endpoints",
        plan: endpoint,
    },
    Reseal {
        select: "SELECT project_id, room_id, webhook FROM rooms WHERE webhook LIKE '%@%'",
        plan: room_webhook,
    },
    Reseal {
        select: "SELECT id, room_secret, room_secret_previous FROM projects",
        plan: room_secrets,
    },
    Reseal {
        select: "SELECT api_key, api_secret FROM source_keys",
        plan: source_key,
    },
    Reseal {
        select: "SELECT id, rsa_key, rsa_key_next FROM projects",
        plan: rsa_keys,
    },
];

fn unreadable(e: SealError) -> StoreError {
    StoreError::Unavailable(format!("resealing: {e}"))
}

fn stale<'a>(sealer: &Sealer, mut values: impl Iterator<Item = &'a String>) -> bool {
    values.any(|value| sealer.needs_resealing(value))
}

fn resealed(sealer: &Sealer, value: Option<String>) -> StoreResult<Option<String>> {
    value
        .map(|v| sealer.reseal(&v))
        .transpose()
        .map_err(unreadable)
}

/// An endpoint's secrets, header values and URL credentials.
fn endpoint(sealer: &Sealer, row: &Row) -> StoreResult<Option<Step>> {
    let (id, secret, previous) = (row.text(0)?, row.text(1)?, row.opt_text(2)?);
    let headers: BTreeMap<String, String> = row.json(3)?;
    let url = row.text(4)?;
    let values = std::iter::once(&secret).chain(&previous);
    if !stale(sealer, values.chain(headers.values())) && !sealer.url_needs_resealing(&url) {
        return Ok(None);
    }
    let headers = headers
        .into_iter()
        .map(|(name, value)| Ok((name, sealer.reseal(&value)?)))
        .collect::<Result<BTreeMap<_, _>, SealError>>()
        .map_err(unreadable)?;
    let headers = serde_json::to_string(&headers).expect("headers serialize");
    Ok(Some(Step::new(
        "UPDATE endpoints SET secret = $2, secret_previous = $3, headers = $4, url = $5
         WHERE id = $1",
        args![
            id,
            resealed(sealer, Some(secret))?,
            resealed(sealer, previous)?,
            headers,
            sealer.reseal_url(&url).map_err(unreadable)?
        ],
    )))
}

/// A room's webhook setting is shown, never used to deliver (its endpoint row holds the URL,
/// sealed): credentials an older version left in it are dropped.
fn room_webhook(_: &Sealer, row: &Row) -> StoreResult<Option<Step>> {
    let (project_id, room_id) = (row.text(0)?, row.text(1)?);
    let webhook: super::RoomWebhook = row.json(2)?;
    // Already shown as `…@` (or without credentials): nothing to drop, no row to lock.
    let url = &webhook.end_point;
    if crate::domain::url_credentials::redact(url) == *url {
        return Ok(None);
    }
    // Serialized without its credentials (`RoomWebhook`'s `end_point`).
    let webhook = serde_json::to_string(&webhook).expect("webhook serializes");
    Ok(Some(Step::new(
        "UPDATE rooms SET webhook = $3 WHERE project_id = $1 AND room_id = $2",
        args![project_id, room_id, webhook],
    )))
}

/// A project's room-webhook secrets.
fn room_secrets(sealer: &Sealer, row: &Row) -> StoreResult<Option<Step>> {
    let (id, secret, previous) = (row.text(0)?, row.opt_text(1)?, row.opt_text(2)?);
    if !stale(sealer, secret.iter().chain(&previous)) {
        return Ok(None);
    }
    Ok(Some(Step::new(
        "UPDATE projects SET room_secret = $2, room_secret_previous = $3 WHERE id = $1",
        args![id, resealed(sealer, secret)?, resealed(sealer, previous)?],
    )))
}

/// A LiveKit source's key secret.
fn source_key(sealer: &Sealer, row: &Row) -> StoreResult<Option<Step>> {
    let (api_key, secret) = (row.text(0)?, row.text(1)?);
    if !sealer.needs_resealing(&secret) {
        return Ok(None);
    }
    Ok(Some(Step::new(
        "UPDATE source_keys SET api_secret = $2 WHERE api_key = $1",
        args![api_key, resealed(sealer, Some(secret))?],
    )))
}

/// A project's RSA keys.
fn rsa_keys(sealer: &Sealer, row: &Row) -> StoreResult<Option<Step>> {
    let (id, key, next) = (row.text(0)?, row.opt_text(1)?, row.opt_text(2)?);
    if !stale(sealer, key.iter().chain(&next)) {
        return Ok(None);
    }
    Ok(Some(Step::new(
        "UPDATE projects SET rsa_key = $2, rsa_key_next = $3 WHERE id = $1",
        args![id, resealed(sealer, key)?, resealed(sealer, next)?],
    )))
}
