//! What VideoSDK compatibility keeps in PostgreSQL: projects' RSA keys (the room API's
//! listings are written once, in `store::listings`).

pub(super) mod rsa_keys;
