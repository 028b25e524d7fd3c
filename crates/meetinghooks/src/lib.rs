//! meetinghooks: meeting signals in, sessions and signed, ordered webhooks out.

pub mod domain;
pub mod engine;
