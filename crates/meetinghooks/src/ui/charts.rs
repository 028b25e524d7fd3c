//! Charts drawn on the server as SVG: stacked bars of succeeded and failed attempts per
//! slice. Colours come from the stylesheet's classes, so both colour schemes apply.

use maud::{html, Markup};

use super::stats::Bucket;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 140.0;

/// Bars per slice; `label` names a slice for its tooltip and the axis, every `label_every`.
pub fn bars(
    id: &str,
    caption: &str,
    buckets: &[Bucket],
    label: impl Fn(&Bucket) -> String,
    label_every: usize,
) -> Markup {
    let max = buckets.iter().map(Bucket::total).max().unwrap_or(0).max(1);
    let slot = WIDTH / buckets.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let scale = (PLOT_BOTTOM - PLOT_TOP) / max as f64;
    let total: u64 = buckets.iter().map(Bucket::total).sum();
    html! {
        figure.chart {
            figcaption { (caption) }
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                aria-label={ (caption) ": " (total) " attempts" } data-total=(total) {
                line.axis x1="0" y1=(PLOT_BOTTOM) x2=(WIDTH) y2=(PLOT_BOTTOM) {}
                text.tick x="0" y=(PLOT_TOP + 2.0) { (max) }
                // The success rate of each slice with attempts, on the same height (100% at top).
                @let rate: Vec<String> = buckets.iter().enumerate().filter(|(_, b)| b.total() > 0).map(|(i, b)| {
                    let x = i as f64 * slot + slot / 2.0;
                    let y = PLOT_BOTTOM - b.succeeded as f64 / b.total() as f64 * (PLOT_BOTTOM - PLOT_TOP);
                    format!("{x:.1},{y:.1}")
                }).collect();
                @for (i, b) in buckets.iter().enumerate() {
                    @let x = i as f64 * slot + (slot - bar) / 2.0;
                    @let ok_h = b.succeeded as f64 * scale;
                    @let fail_h = b.failed as f64 * scale;
                    g {
                        title { (label(b)) ": " (b.succeeded) " succeeded, " (b.failed) " failed" }
                        rect.ok x=(x) y=(PLOT_BOTTOM - ok_h) width=(bar) height=(ok_h) {}
                        rect.fail x=(x) y=(PLOT_BOTTOM - ok_h - fail_h) width=(bar) height=(fail_h) {}
                    }
                    @if i % label_every.max(1) == 0 {
                        text.tick x=(x) y=(HEIGHT - 4.0) { (label(b)) }
                    }
                }
                @if !rate.is_empty() {
                    polyline.rate points=(rate.join(" ")) {}
                    @for point in &rate {
                        @let (x, y) = point.split_once(',').unwrap_or_default();
                        circle.rate cx=(x) cy=(y) r="2.5" {}
                    }
                }
            }
            p.legend { span.key.delivered { "succeeded" } " " span.key.failed { "failed" } " " span.key.rate { "success rate (top = 100%)" } }
        }
    }
}
