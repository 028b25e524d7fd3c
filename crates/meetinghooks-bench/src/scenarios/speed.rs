//! Speed scenarios against the no-durability ceiling: throughput (batches, and one signal
//! per request), latency, fan-out.

use std::time::Duration;

use super::{expected_from, wait_for, Bench, Load, Measured, Shape};
use crate::forwarder::Forwarder;
use crate::load::paced;
use crate::receiver::Receiver;
use crate::server::create_endpoints;
use crate::stats::{figures, ms};

impl Bench {
    /// Batches of 100 signals, 8 requests in flight.
    pub async fn throughput(&mut self) -> anyhow::Result<()> {
        let n = self.n(100_000);
        let name = format!("throughput ({n} joins, 1000 meetings)");
        self.throughput_of(&name, "tp", n, Shape::BATCHED, 0.5)
            .await
    }

    /// One signal per request, 32 requests in flight: the shape a media layer sends.
    pub async fn single(&mut self) -> anyhow::Result<()> {
        let n = self.n(50_000);
        let name = format!("throughput, 1 signal per request, 32 in flight ({n} joins)");
        self.throughput_of(&name, "sg", n, Shape::SINGLE, 0.4).await
    }

    async fn throughput_of(
        &mut self,
        name: &str,
        run: &str,
        n: usize,
        shape: Shape,
        target: f64,
    ) -> anyhow::Result<()> {
        let paths = vec!["/ep0".to_owned()];
        let ceiling_run = format!("{run}c");
        let mut load = Load {
            run,
            paths: &paths,
            ordering: "meeting",
            signals: n,
            meetings: 1000,
            shape,
        };
        let Measured {
            figures: ours,
            peak_rss_mib: rss,
            cpu_ms_per_delivery: cpu,
            ..
        } = self.through_meetinghooks(&load).await?;
        load.run = &ceiling_run;
        let ceiling = self.through_ceiling(&load).await?;
        if shape == Shape::BATCHED {
            self.ceiling = Some(ceiling.per_second);
        }
        let ratio = ours.per_second / ceiling.per_second;
        let name = name.to_owned();
        self.row(
            &name,
            "deliveries/s",
            format!("{:.0}", ours.per_second),
            format!("{:.0}", ceiling.per_second),
            Some(ratio),
            &format!("≥ {target}×"),
            Some(ratio >= target),
        );
        self.cpu_row(&name, cpu);
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
            let run = format!("fan{endpoints}");
            let ceiling_run = format!("fan{endpoints}c");
            let mut load = Load {
                run: &run,
                paths: &paths,
                ordering: "none",
                signals: events,
                meetings: 10,
                shape: Shape::BATCHED,
            };
            let Measured {
                figures: ours,
                peak_rss_mib: rss,
                cpu_ms_per_delivery: cpu,
                ..
            } = self.through_meetinghooks(&load).await?;
            load.run = &ceiling_run;
            let ceiling = self.through_ceiling(&load).await?;
            let ratio = ours.per_second / ceiling.per_second;
            let name = format!("fanout {events} events × {endpoints} endpoints");
            self.row(
                &name,
                "deliveries/s",
                format!("{:.0}", ours.per_second),
                format!("{:.0}", ceiling.per_second),
                Some(ratio),
                "≥ 0.6×",
                Some(ratio >= 0.6),
            );
            self.cpu_row(&name, cpu);
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
