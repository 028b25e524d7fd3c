//! Domain vocabulary shared by every layer: timestamps, identifiers, signals and event subscriptions.

pub mod endpoint;
pub mod ids;
pub mod media;
pub mod public_ids;
pub mod signal;
pub mod signatures;
pub mod subscription;
pub mod timestamp;
pub mod url_credentials;
