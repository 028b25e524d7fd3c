//! The printed table.

pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub ours: String,
    pub ceiling: String,
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

/// A Markdown table, ready for `BENCHMARKS.md`.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | metric | meetinghooks | ceiling / baseline | ratio | target | met |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.metric,
            r.ours,
            r.ceiling,
            r.ratio.map(|x| format!("{x:.2}×")).unwrap_or_default(),
            r.target,
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            }
        ));
    }
    out
}
