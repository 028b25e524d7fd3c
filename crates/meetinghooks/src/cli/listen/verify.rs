//! Which signatures `listen` checks: Standard Webhooks with `--secret`, VideoSDK's with
//! `--public-key FILE` or `--fetch-public-key`; a delivery passes when every configured
//! signature it carries verifies, and it carries at least one.

use anyhow::Context;
use meetinghooks_webhooks::{
    Event, HeaderLookup, VideosdkVerifier, Webhook, HEADER_SIGNATURE, HEADER_VIDEOSDK_SIGNATURE,
};
use serde::Deserialize;

use super::ListenArgs;
use crate::cli::client::{Answer, ApiClient};

pub(super) struct Verifiers {
    standard: Option<Webhook>,
    videosdk: Option<VideosdkVerifier>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    public_key: String,
}

impl Verifiers {
    pub(super) async fn from_args(args: &ListenArgs) -> anyhow::Result<Verifiers> {
        let standard = args
            .secret
            .as_deref()
            .map(Webhook::new)
            .transpose()
            .map_err(|err| {
                anyhow::anyhow!("invalid --secret: expected whsec_ followed by base64 ({err})")
            })?;
        let pem = match (&args.public_key, args.fetch_public_key) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --public-key {}", path.display()))?,
            ),
            (None, true) => {
                let api = ApiClient::new(&args.client)?;
                let answer: Answer<PublicKey> = api
                    .get(api.url(&["v2", "public", "rsa-public-key"], &[]))
                    .await
                    .context("fetching the RSA public key")?;
                Some(answer.value.public_key)
            }
            (None, false) => None,
        };
        let videosdk = pem
            .map(|pem| VideosdkVerifier::from_public_pem(&pem))
            .transpose()
            .context("invalid RSA public key")?;
        Ok(Verifiers { standard, videosdk })
    }

    /// What the first line says about checking.
    pub(super) fn mode(&self) -> &'static str {
        match (&self.standard, &self.videosdk) {
            (Some(_), Some(_)) => "verifying signatures: standard and videosdk",
            (Some(_), None) => "verifying signatures",
            (None, Some(_)) => "verifying videosdk-signature",
            (None, None) => "NOT verifying: no --secret or --public-key",
        }
    }

    pub(super) fn checks(&self) -> bool {
        self.standard.is_some() || self.videosdk.is_some()
    }

    /// The verified event, or why the delivery is refused.
    pub(super) fn verify(&self, headers: &impl HeaderLookup, body: &[u8]) -> Result<Event, String> {
        let mut event = None;
        if let Some(videosdk) = &self.videosdk {
            if headers.header(HEADER_VIDEOSDK_SIGNATURE).is_some() || self.standard.is_none() {
                event = Some(videosdk.verify(headers, body).map_err(|e| e.to_string())?);
            }
        }
        if let Some(standard) = &self.standard {
            if headers.header(HEADER_SIGNATURE).is_some() || event.is_none() {
                event = Some(standard.verify(headers, body).map_err(|e| e.to_string())?);
            }
        }
        event.ok_or_else(|| "no signature to check".to_owned())
    }
}
