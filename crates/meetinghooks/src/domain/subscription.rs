//! Event subscriptions: which webhook types an endpoint asked for (`"*"`, exact names, `"prefix-*"`).

use meetinghooks_webhooks::WebhookType;
use serde::{Deserialize, Serialize};

/// A validated list of subscription patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Subscription {
    patterns: Vec<String>,
}

impl Subscription {
    pub fn parse(patterns: Vec<String>) -> Result<Self, String> {
        if patterns.is_empty() {
            return Err("events must name at least one webhook type or pattern".into());
        }
        for pattern in &patterns {
            let known = WebhookType::ALL
                .iter()
                .any(|t| pattern_matches(pattern, t.as_str()));
            if !known {
                return Err(format!(
                    "events: {pattern:?} matches no webhook type (use \"*\", an exact name such as \"participant-joined\", or a prefix such as \"recording-*\")"
                ));
            }
        }
        Ok(Subscription { patterns })
    }

    pub fn matches(&self, webhook_type: WebhookType) -> bool {
        self.patterns
            .iter()
            .any(|p| pattern_matches(p, webhook_type.as_str()))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => prefix.ends_with('-') && name.starts_with(prefix),
        None => pattern == name,
    }
}

impl TryFrom<Vec<String>> for Subscription {
    type Error = String;
    fn try_from(patterns: Vec<String>) -> Result<Self, String> {
        Subscription::parse(patterns)
    }
}

impl From<Subscription> for Vec<String> {
    fn from(s: Subscription) -> Self {
        s.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_exact_names() {
        let s = Subscription::parse(vec!["recording-*".into(), "session-ended".into()]).unwrap();
        assert!(s.matches(WebhookType::RecordingStarted));
        assert!(s.matches(WebhookType::RecordingStopped));
        assert!(s.matches(WebhookType::SessionEnded));
        assert!(!s.matches(WebhookType::SessionStarted));
        let all = Subscription::parse(vec!["*".into()]).unwrap();
        assert!(WebhookType::ALL.iter().all(|t| all.matches(*t)));
    }

    fn matched(pattern: &str) -> Vec<&'static str> {
        let s = Subscription::parse(vec![pattern.into()]).unwrap();
        WebhookType::ALL
            .iter()
            .filter(|t| s.matches(**t))
            .map(|t| t.as_str())
            .collect()
    }

    #[test]
    fn prefixes_cover_the_whole_catalog_and_no_more() {
        assert_eq!(
            matched("recording-*"),
            [
                "recording-started",
                "recording-stopped",
                "recording-starting",
                "recording-stopping",
                "recording-failed"
            ]
        );
        assert_eq!(matched("hls-*").len(), 6);
        assert!(matched("hls-*").contains(&"hls-playable"));
        assert_eq!(matched("livestream-*").len(), 5);
        // A prefix is a prefix: participant recordings are not track recordings...
        let recordings = matched("participant-recording-*");
        assert_eq!(recordings.len(), 5);
        assert!(recordings
            .iter()
            .all(|n| n.starts_with("participant-recording-")));
        assert_eq!(matched("participant-track-recording-*").len(), 5);
        // ...but `participant-*` covers joins, leaves and both kinds of recording.
        assert_eq!(matched("participant-*").len(), 2 + 5 + 5);
        assert_eq!(matched("*").len(), WebhookType::ALL.len());
        assert_eq!(WebhookType::ALL.len(), 30);
        // An exact name is only itself.
        for t in WebhookType::ALL {
            assert_eq!(matched(t.as_str()), [t.as_str()]);
        }
    }

    #[test]
    fn rejects_unknown_patterns() {
        assert!(Subscription::parse(vec![]).is_err());
        assert!(Subscription::parse(vec!["meeting-*".into()]).is_err());
        assert!(Subscription::parse(vec!["participant-joine".into()]).is_err());
        assert!(Subscription::parse(vec!["rec*".into()]).is_err());
    }
}
