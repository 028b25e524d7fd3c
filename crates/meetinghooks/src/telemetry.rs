//! Metrics: the process-wide Prometheus recorder and the sampler of queue-depth gauges.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

use crate::store::{MessageStatus, Store};

const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Installs the recorder once per process (tests run several apps in one process).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Samples queue depth by status and the number of disabled endpoints.
pub async fn sample(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Ok(depths) = store.queue_depth().await {
            for status in MessageStatus::ALL {
                let count = depths
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, c)| *c);
                metrics::gauge!("meetinghooks_queue_depth", "state" => status.as_str())
                    .set(count as f64);
            }
        }
        if let Ok(endpoints) = store.delivery_targets().await {
            let disabled = endpoints.iter().filter(|e| e.disabled).count();
            metrics::gauge!("meetinghooks_endpoints_disabled").set(disabled as f64);
        }
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
