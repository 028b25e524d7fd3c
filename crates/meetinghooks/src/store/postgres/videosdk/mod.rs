//! What VideoSDK compatibility keeps in PostgreSQL: projects' RSA keys, and the room API's
//! numbered listings, deactivation and auto-close candidates.

mod listings;
pub(super) mod rsa_keys;
