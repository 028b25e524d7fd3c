//! Endpoint rows both dialects read and write alike: the columns, their decoding (secrets
//! sealed in the row, open in memory), the insert, and the reads and the secret rotation,
//! written once over the shared query executor. PATCHes, deletes and the room-webhook secret
//! lock differently per dialect and stay in each store's `endpoints` file.

use super::changes::Changes;
use super::query::{args, Commit, Param, Query};
use super::rows::Columns;
use super::{StoreError, StoreResult};
use crate::domain::endpoint::{Endpoint, Ordering};
use crate::domain::signatures::Signatures;
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;

pub(crate) const COLUMNS: &str = "id, project_id, room_id, url, description, events, ordering,
    rate_limit, headers, retry_schedule, timeout_ms, disabled, disabled_reason, secret,
    secret_previous, secret_previous_until, failing_since, last_success_at, created_at,
    updated_at, signatures";

/// `$1` project, `$2` endpoint.
pub(crate) fn get_sql() -> String {
    format!("SELECT {COLUMNS} FROM endpoints WHERE project_id = $1 AND id = $2")
}

pub(crate) fn insert_sql() -> String {
    let placeholders: Vec<String> = (1..=21).map(|n| format!("${n}")).collect();
    format!(
        "INSERT INTO endpoints ({COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    )
}

/// An endpoint row, its secrets still sealed. Endpoints are written by this store only, so
/// unreadable JSON falls back to defaults.
pub(crate) fn endpoint<R: Columns>(row: &R) -> Result<Endpoint, R::Error> {
    let json = |index| -> Result<Option<String>, R::Error> { row.opt_text(index) };
    let events: Vec<String> = json(5)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    Ok(Endpoint {
        id: row.text(0)?,
        project_id: row.text(1)?,
        room_id: row.opt_text(2)?,
        url: row.text(3)?,
        description: row.text(4)?,
        events: Subscription::parse(events).unwrap_or_else(|_| {
            Subscription::parse(vec!["*".into()]).expect("* is a valid pattern")
        }),
        ordering: Ordering::parse(&row.text(6)?).unwrap_or_default(),
        rate_limit: row.opt_int(7)?.map(|r| r as u32),
        headers: json(8)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        retry_schedule: json(9)?.and_then(|s| serde_json::from_str(&s).ok()),
        timeout_ms: row.opt_int(10)?.map(|t| t as u64),
        disabled: row.flag(11)?,
        disabled_reason: row.opt_text(12)?,
        secret: row.text(13)?,
        secret_previous: row.opt_text(14)?,
        secret_previous_until: row.opt_int(15)?.map(Timestamp),
        failing_since: row.opt_int(16)?.map(Timestamp),
        last_success_at: row.opt_int(17)?.map(Timestamp),
        created_at: Timestamp(row.int(18)?),
        updated_at: Timestamp(row.int(19)?),
        signatures: Signatures::from_json(&row.text(20)?),
    })
}

/// Every column of an endpoint, in [`COLUMNS`] order, sealed, as statement parameters.
pub(crate) fn values(sealer: &Sealer, e: &Endpoint) -> Vec<Param> {
    let e = sealer.seal_endpoint(e);
    args![
        e.id,
        e.project_id,
        e.room_id,
        e.url,
        e.description,
        json(&e.events.patterns()),
        e.ordering.as_str(),
        e.rate_limit.map(i64::from),
        json(&e.headers),
        e.retry_schedule.as_ref().map(json),
        e.timeout_ms.map(|t| t as i64),
        e.disabled,
        e.disabled_reason,
        e.secret,
        e.secret_previous,
        e.secret_previous_until.map(|t| t.0),
        e.failing_since.map(|t| t.0),
        e.last_success_at.map(|t| t.0),
        e.created_at.0,
        e.updated_at.0,
        e.signatures.to_json(),
    ]
}

/// Writes an endpoint's settings and delivery state in place (the row, and anything that
/// refers to it, stays). Secrets and `last_success_at` are not written: rotation and delivery
/// own them. Parameters from [`settings_values`].
pub(crate) const UPDATE_SETTINGS: &str = "UPDATE endpoints SET url = $3, description = $4,
       events = $5, ordering = $6, rate_limit = $7, headers = $8, retry_schedule = $9,
       timeout_ms = $10, disabled = $11, disabled_reason = $12, failing_since = $13,
       updated_at = $14, signatures = $15
     WHERE project_id = $1 AND id = $2";

pub(crate) fn settings_values(sealer: &Sealer, e: &Endpoint) -> Vec<Param> {
    args![
        &e.project_id,
        &e.id,
        &e.url,
        &e.description,
        json(&e.events.patterns()),
        e.ordering.as_str(),
        e.rate_limit.map(i64::from),
        json(&sealer.seal_headers(&e.headers)),
        e.retry_schedule.as_ref().map(json),
        e.timeout_ms.map(|t| t as i64),
        e.disabled,
        e.disabled_reason.as_deref(),
        e.failing_since.map(|t| t.0),
        e.updated_at.0,
        e.signatures.to_json(),
    ]
}

/// A setting this store keeps as JSON text.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("endpoint settings serialize")
}

/// Opens an endpoint's sealed secrets.
pub(crate) fn opened(sealer: &Sealer, endpoint: Endpoint) -> StoreResult<Endpoint> {
    sealer
        .open_endpoint(endpoint)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

pub(crate) async fn create(store: &impl Query, endpoint: Endpoint) -> StoreResult<Endpoint> {
    let params = values(store.sealer(), &endpoint);
    store
        .execute(&insert_sql(), params, Commit::Durable)
        .await?;
    store.announce(Changes::ENDPOINTS);
    Ok(endpoint)
}

/// A project's endpoints in creation order, or with `None` every endpoint (the dispatcher's).
pub(crate) async fn list(
    store: &impl Query,
    project_id: Option<&str>,
) -> StoreResult<Vec<Endpoint>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM endpoints WHERE CAST($1 AS TEXT) IS NULL OR project_id = $1
         ORDER BY created_at, id"
    );
    let sealer = store.sealer();
    store
        .all(&sql, args![project_id], |row| {
            opened(sealer, endpoint(row)?)
        })
        .await
}

pub(crate) async fn get(
    store: &impl Query,
    project_id: &str,
    endpoint_id: &str,
) -> StoreResult<Option<Endpoint>> {
    let sealer = store.sealer();
    store
        .first(&get_sql(), args![project_id, endpoint_id], |row| {
            opened(sealer, endpoint(row)?)
        })
        .await
}

/// Rotates an account endpoint's secret in one statement; `NotFound` when there is no such
/// account endpoint. The dispatcher signs with the secrets it loaded: it must load the new one.
pub(crate) async fn rotate_secret(
    store: &impl Query,
    project_id: &str,
    endpoint_id: &str,
    secret: &str,
    previous_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Endpoint> {
    let sql = format!(
        "UPDATE endpoints SET secret_previous = secret, secret = $3,
           secret_previous_until = $4, updated_at = $5
         WHERE project_id = $1 AND id = $2 AND room_id IS NULL RETURNING {COLUMNS}"
    );
    let sealer = store.sealer();
    let params = args![
        project_id,
        endpoint_id,
        sealer.seal(secret),
        previous_until.0,
        now.0
    ];
    let rows = store.returning(&sql, params, Commit::Durable).await?;
    let row = rows.first().ok_or(StoreError::NotFound("endpoint"))?;
    let rotated = opened(sealer, endpoint(row)?)?;
    store.announce(Changes::ENDPOINTS);
    Ok(rotated)
}
