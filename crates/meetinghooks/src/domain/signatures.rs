//! Which signatures an endpoint's requests carry: Standard Webhooks (`webhook-signature`),
//! VideoSDK's (`videosdk-signature`), or both.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureScheme {
    /// `webhook-signature`: HMAC-SHA256 with the endpoint's `whsec_` secret.
    Standard,
    /// `videosdk-signature`: RSA-SHA256 (PKCS#1 v1.5) with the project's RSA key, base64.
    Videosdk,
}

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Standard => "standard",
            SignatureScheme::Videosdk => "videosdk",
        }
    }
}

/// A non-empty set of schemes, kept sorted so it reads and compares the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SignatureScheme>", into = "Vec<SignatureScheme>")]
pub struct Signatures(BTreeSet<SignatureScheme>);

impl Signatures {
    /// Account endpoints' default.
    pub fn standard() -> Signatures {
        Signatures(BTreeSet::from([SignatureScheme::Standard]))
    }

    /// Rooms' own webhooks: VideoSDK's signature, and the Standard Webhooks headers as on
    /// every request.
    pub fn both() -> Signatures {
        Signatures(BTreeSet::from([
            SignatureScheme::Standard,
            SignatureScheme::Videosdk,
        ]))
    }

    pub fn includes(&self, scheme: SignatureScheme) -> bool {
        self.0.contains(&scheme)
    }

    pub fn schemes(&self) -> impl Iterator<Item = SignatureScheme> + '_ {
        self.0.iter().copied()
    }

    /// As stored: a JSON array of names.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("names serialize")
    }

    /// A stored column; an unreadable one (a newer node's scheme) falls back to the default.
    pub fn from_json(text: &str) -> Signatures {
        serde_json::from_str(text).unwrap_or_else(|_| Signatures::standard())
    }
}

impl Default for Signatures {
    fn default() -> Self {
        Signatures::standard()
    }
}

impl TryFrom<Vec<SignatureScheme>> for Signatures {
    type Error = &'static str;
    fn try_from(schemes: Vec<SignatureScheme>) -> Result<Self, Self::Error> {
        if schemes.is_empty() {
            return Err("signatures must name at least one scheme");
        }
        Ok(Signatures(schemes.into_iter().collect()))
    }
}

impl From<Signatures> for Vec<SignatureScheme> {
    fn from(signatures: Signatures) -> Self {
        signatures.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_sorted_and_deduplicated() {
        let parsed: Signatures =
            serde_json::from_str(r#"["videosdk","standard","videosdk"]"#).unwrap();
        assert_eq!(parsed, Signatures::both());
        assert_eq!(parsed.to_json(), r#"["standard","videosdk"]"#);
        assert!(serde_json::from_str::<Signatures>("[]").is_err());
        assert!(serde_json::from_str::<Signatures>(r#"["hmac"]"#).is_err());
        assert_eq!(Signatures::from_json("garbage"), Signatures::standard());
    }
}
