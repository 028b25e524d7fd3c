//! Speed scenarios against the no-durability ceiling: throughput, latency, fan-out.

use std::time::Duration;

use super::{expected_from, wait_for, Bench, Measured};
use crate::forwarder::Forwarder;
use crate::load::paced;
use crate::receiver::Receiver;
use crate::server::create_endpoints;
use crate::stats::{figures, ms};

impl Bench {
    pub async fn throughput(&mut self) -> anyhow::Result<()> {
        let n = self.n(100_000);
        let paths = vec!["/ep0".to_owned()];
        let Measured {
            figures: ours,
            peak_rss_mib: rss,
        } = self
            .through_meetinghooks("tp", &paths, "meeting", n, 1000)
            .await?;
        let ceiling = self.through_ceiling("tpc", &paths, n, 1000).await?;
        self.ceiling = Some(ceiling.per_second);
        let ratio = ours.per_second / ceiling.per_second;
        let name = format!("throughput ({n} joins, 1000 meetings)");
        self.row(
            &name,
            "deliveries/s",
            format!("{:.0}", ours.per_second),
            format!("{:.0}", ceiling.per_second),
            Some(ratio),
            "≥ 0.5×",
            Some(ratio >= 0.5),
        );
        self.row(
            &name,
            "latency p50 / p99",
            format!("{} / {}", ms(ours.p50), ms(ours.p99)),
            format!("{} / {}", ms(ceiling.p50), ms(ceiling.p99)),
            None,
            "",
            None,
        );
        self.missing_rows(&name, &ours);
        self.row(
            &name,
            "peak RSS",
            format!("{rss:.1} MiB"),
            String::new(),
            None,
            "",
            None,
        );
        Ok(())
    }

    pub async fn latency(&mut self) -> anyhow::Result<()> {
        let seconds = (30.0 * self.scale).max(1.0) as u64;
        for (rate, target_ms) in [(1000usize, 20u64), (5000, 50)] {
            let receiver = Receiver::start().await?;
            let (_dir, server) = self.server().await?;
            create_endpoints(
                &self.client,
                &server,
                &[format!("http://{}/ep0", receiver.addr)],
                "meeting",
            )
            .await?;
            let run = format!("lat{rate}");
            let sent = paced(
                &self.client,
                &server.url("/v1/signals"),
                &run,
                1000,
                rate,
                Duration::from_secs(seconds),
            )
            .await?;
            let expected = expected_from(&sent, "/ep0");
            wait_for(&receiver, sent.len(), Duration::from_secs(30)).await;
            let ours = figures(&sent, &receiver.arrivals(), &expected, None);
            drop(server);

            let receiver = Receiver::start().await?;
            let forwarder = Forwarder::start(vec![format!("http://{}/ep0", receiver.addr)]).await?;
            let sent = paced(
                &self.client,
                &format!("http://{}/v1/signals", forwarder.addr),
                &format!("{run}c"),
                1000,
                rate,
                Duration::from_secs(seconds),
            )
            .await?;
            let expected_c = expected_from(&sent, "/ep0");
            wait_for(&receiver, sent.len(), Duration::from_secs(30)).await;
            let ceiling = figures(&sent, &receiver.arrivals(), &expected_c, None);

            let name = format!("latency {rate}/s for {seconds} s");
            self.row(
                &name,
                "p50 / p90",
                format!("{} / {}", ms(ours.p50), ms(ours.p90)),
                format!("{} / {}", ms(ceiling.p50), ms(ceiling.p90)),
                None,
                "",
                None,
            );
            let met = ours.p99 <= Duration::from_millis(target_ms);
            self.row(
                &name,
                "p99",
                ms(ours.p99),
                ms(ceiling.p99),
                None,
                &format!("≤ {target_ms} ms"),
                Some(met),
            );
            self.row(&name, "max", ms(ours.max), ms(ceiling.max), None, "", None);
            self.missing_rows(&name, &ours);
        }
        Ok(())
    }

    pub async fn fanout(&mut self) -> anyhow::Result<()> {
        for (endpoints, events) in [(100usize, 200usize), (1000, 20)] {
            let events = self.n(events);
            let paths: Vec<String> = (0..endpoints).map(|i| format!("/ep{i}")).collect();
            let Measured {
                figures: ours,
                peak_rss_mib: rss,
            } = self
                .through_meetinghooks(&format!("fan{endpoints}"), &paths, "none", events, 10)
                .await?;
            let ceiling = self
                .through_ceiling(&format!("fan{endpoints}c"), &paths, events, 10)
                .await?;
            let ratio = ours.per_second / ceiling.per_second;
            let name = format!("fanout {events} events × {endpoints} endpoints");
            self.row(
                &name,
                "deliveries/s",
                format!("{:.0}", ours.per_second),
                format!("{:.0}", ceiling.per_second),
                Some(ratio),
                "≥ 0.5×",
                Some(ratio >= 0.5),
            );
            self.missing_rows(&name, &ours);
            self.row(
                &name,
                "peak RSS",
                format!("{rss:.1} MiB"),
                String::new(),
                None,
                "",
                None,
            );
        }
        Ok(())
    }
}
