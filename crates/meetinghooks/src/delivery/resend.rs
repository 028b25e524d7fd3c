//! Manual resends: one attempt now with the message's webhook-id, paying its rate-limit
//! token and recorded like any other attempt.

use std::sync::Arc;
use std::time::Instant;

use super::attempt;
use super::decide::decide;
use super::schedule::saturating_millis;
use super::Dispatcher;
use crate::domain::timestamp::Timestamp;
use crate::store::{AttemptRecord, StoreError};

impl Dispatcher {
    /// A manual resend: one attempt now with the same webhook-id, recorded like any other.
    /// It runs in its own task, so a caller that goes away cannot strand the lease.
    pub async fn resend(
        self: &Arc<Self>,
        project_id: &str,
        message_id: &str,
    ) -> Result<AttemptRecord, StoreError> {
        let (this, project_id, message_id) =
            (self.clone(), project_id.to_owned(), message_id.to_owned());
        tokio::spawn(async move { this.resend_now(&project_id, &message_id).await })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    async fn resend_now(
        &self,
        project_id: &str,
        message_id: &str,
    ) -> Result<AttemptRecord, StoreError> {
        let endpoint_of = self
            .store
            .message(project_id, message_id)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        let endpoint = self
            .store
            .endpoint(project_id, &endpoint_of.endpoint_id)
            .await?
            .ok_or(StoreError::NotFound("endpoint"))?;
        // A resend is a send like any other: it waits for its rate-limit token.
        let wait = self
            .rate_limits
            .reserve(&endpoint.id, endpoint.rate_limit, Instant::now());
        tokio::time::sleep(wait).await;
        let lease_until = Timestamp::now().plus_millis(saturating_millis(self.lease_duration()));
        let leased = self
            .store
            .lease_for_resend(project_id, message_id, lease_until)
            .await?;
        let signer = self
            .signing_keys
            .signer(&*self.store, &endpoint, Timestamp::now())
            .await;
        let target = attempt::Target::new(&endpoint, signer);
        let attempt = attempt::send(
            &self.client,
            &self.policy,
            &target,
            &leased,
            self.timeout_for(&endpoint),
        )
        .await;
        let outcome = decide(&self.config, &endpoint, &leased, &attempt);
        let record = AttemptRecord {
            id: 0,
            attempted_at: outcome.attempted_at,
            duration_ms: outcome.duration_ms,
            status_code: outcome.status_code,
            error_kind: outcome.error_kind.map(str::to_owned),
            response_body: outcome.response_body.clone(),
        };
        let outcomes = vec![outcome];
        let recorded = self
            .store
            .record_outcomes(
                outcomes.clone(),
                saturating_millis(self.config.auto_disable_after),
                None,
            )
            .await?;
        self.touch(&outcomes);
        self.failure_log().report(&outcomes, &recorded.disabled);
        Ok(record)
    }
}
