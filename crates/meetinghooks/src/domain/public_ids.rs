//! Public ids of messages and events, and opaque page cursors: an internal position passed
//! through a keyed permutation (one AES block), so an id says nothing about traffic or about
//! another id, ids of two installs never meet, and an id maps back to its row without a lookup.

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::Aes128;

/// What a public id names; part of the sealed block, so an id of one kind never decodes as
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message = 1,
    Event = 2,
    Cursor = 3,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Message => "msg_",
            Kind::Event => "evt_",
            Kind::Cursor => "",
        }
    }
}

/// Encodes and decodes with the install's id key, which the store keeps and never changes:
/// a message keeps its `webhook-id` for life.
#[derive(Clone)]
pub struct PublicIds {
    cipher: Aes128,
}

impl std::fmt::Debug for PublicIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicIds(***)")
    }
}

impl PublicIds {
    pub fn new(key: [u8; 16]) -> PublicIds {
        PublicIds {
            cipher: Aes128::new(&Array::from(key)),
        }
    }

    /// `msg_` and 32 hex digits.
    pub fn message_id(&self, position: i64) -> String {
        self.encode(Kind::Message, position)
    }

    pub fn message_position(&self, id: &str) -> Option<i64> {
        self.decode(Kind::Message, id)
    }

    /// `evt_` and 32 hex digits.
    pub fn event_id(&self, position: i64) -> String {
        self.encode(Kind::Event, position)
    }

    pub fn event_position(&self, id: &str) -> Option<i64> {
        self.decode(Kind::Event, id)
    }

    /// A page cursor: 32 hex digits that only this install reads back.
    pub fn cursor(&self, position: i64) -> String {
        self.encode(Kind::Cursor, position)
    }

    pub fn cursor_position(&self, cursor: &str) -> Option<i64> {
        self.decode(Kind::Cursor, cursor)
    }

    fn encode(&self, kind: Kind, position: i64) -> String {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&(kind as u64).to_be_bytes());
        block[8..].copy_from_slice(&position.to_be_bytes());
        let mut block = Array::from(block);
        self.cipher.encrypt_block(&mut block);
        let mut out = String::with_capacity(kind.prefix().len() + 32);
        out.push_str(kind.prefix());
        for byte in block.iter() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    fn decode(&self, kind: Kind, id: &str) -> Option<i64> {
        let hex = id.strip_prefix(kind.prefix())?;
        if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut block = [0u8; 16];
        for (i, byte) in block.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        let mut block = Array::from(block);
        self.cipher.decrypt_block(&mut block);
        let tag = u64::from_be_bytes(block[..8].try_into().expect("8 bytes"));
        let position = i64::from_be_bytes(block[8..].try_into().expect("8 bytes"));
        (tag == kind as u64 && position >= 0).then_some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(seed: u8) -> PublicIds {
        PublicIds::new([seed; 16])
    }

    #[test]
    fn ids_round_trip_and_hide_their_position() {
        let ids = ids(1);
        let (a, b) = (ids.message_id(7), ids.message_id(8));
        assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
        assert_eq!(ids.message_position(&a), Some(7));
        assert_eq!(ids.message_position(&b), Some(8));
        // Neighbours share nothing a reader could count with.
        let shared = a[4..].chars().zip(b[4..].chars()).filter(|(x, y)| x == y);
        assert!(shared.count() < 10, "{a} {b}");
        assert_eq!(ids.event_position(&ids.event_id(7)), Some(7));
        assert_eq!(ids.cursor_position(&ids.cursor(0)), Some(0));
    }

    #[test]
    fn an_id_of_another_kind_or_install_or_a_guess_does_not_decode() {
        let ids = ids(1);
        let message = ids.message_id(7);
        assert_eq!(
            ids.event_position(&message.replacen("msg_", "evt_", 1)),
            None
        );
        assert_eq!(ids.cursor_position(&message[4..]), None);
        assert_eq!(
            super::PublicIds::new([2; 16]).message_position(&message),
            None
        );
        assert_ne!(super::PublicIds::new([2; 16]).message_id(7), message);
        for guess in [
            "msg_7",
            "msg_",
            "msg_zz",
            &format!("msg_{}", "0".repeat(32)),
        ] {
            assert_eq!(ids.message_position(guess), None, "{guess}");
        }
    }
}
