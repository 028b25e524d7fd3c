//! meetinghooks: meeting signals in, sessions and signed, ordered webhooks out.
//!
//! The pipeline reads top to bottom: [`domain`] (vocabulary) → [`engine`] (pure session logic)
//! → [`store`] (durable state and event log) → [`api`] / [`cli`] (transports).
//! See `ARCHITECTURE.md` for the map.

pub mod api;
pub mod app;
pub mod auto_close;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod engine;
pub mod outbox;
pub mod retention;
pub mod sealing;
pub mod server;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod timers;
pub mod ui;
pub mod videosdk;

pub use app::run;
pub use config::Config;
