//! The integration test binary: every test starts the real app (or binary) on port 0.

mod helpers;
mod raw_db;
mod receiver;
mod store_wrapper;

mod bad_input;
mod changes;
mod cli;
mod cluster;
mod cluster_clock;
mod cluster_listing;
mod connection_limits;
mod delivery;
mod delivery_endpoints;
mod delivery_safety;
mod differential;
mod dispatcher_orphans;
mod endpoint_updates;
mod events_follow;
mod failures;
mod first_run;
mod full_meeting;
mod listen_e2e;
mod metrics;
mod openapi;
mod rate_limit;
mod restart;
mod retry_after;
mod rooms_and_sessions;
mod signal_ids;
mod signals;
mod slow_clients;
mod store_conformance;
mod store_locks;
mod writer_health;
