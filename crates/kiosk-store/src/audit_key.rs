//! The key of the audit chain. Each row written by a process that holds
//! the station token also carries `HMAC-SHA256(K, hash)`, where `K` is
//! derived inside the station token from a secret that never leaves it,
//! for one *epoch*: a fresh id per process (stored on the row, so the key
//! can be derived again to check it). Whoever holds only `station.db` can
//! rewrite rows and compute the SHA-256 chain again, but not these values;
//! and since each row's hash covers the row before, a row's value vouches
//! for the whole trail up to it.

use hmac::{Hmac, Mac};
use kiosk_domain::Rejection;
use sha2::Sha256;
use zeroize::Zeroizing;

/// What a row's value is computed over, besides the row's hash.
const CONTEXT: &[u8] = b"kiosk-audit-row:";

/// The 32 bytes of an epoch's key, zeroized when dropped.
pub type EpochKey = Zeroizing<[u8; 32]>;

/// An epoch's key, in memory for the life of the process that derived it.
pub struct AuditKey {
    epoch: String,
    key: Zeroizing<[u8; 32]>,
}

impl AuditKey {
    pub fn new(epoch: String, key: Zeroizing<[u8; 32]>) -> AuditKey {
        AuditKey { epoch, key }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The value of a row whose hash is `hash` (hex).
    pub fn mac(&self, hash: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes any key length");
        m.update(CONTEXT);
        m.update(hash.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Derives the key of a new epoch before the first write of a process:
/// given the epoch id and the sequence number the next row will have, it
/// returns the key, or `None` when this station keeps no keyed trail yet
/// (no station token set up). An error refuses the write.
pub type AuditKeyer = Box<dyn FnMut(&str, i64) -> Result<Option<EpochKey>, Rejection> + Send>;

/// Where a store stands with its key.
pub(crate) enum KeyState {
    /// No keyer installed: rows are hash-chained only.
    Unkeyed,
    /// A keyer is installed and has not given a key yet.
    NotAsked(AuditKeyer),
    /// The epoch's key.
    Keyed(AuditKey),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_depends_on_key_and_hash() {
        let a = AuditKey::new("e1".into(), Zeroizing::new([1; 32]));
        let b = AuditKey::new("e1".into(), Zeroizing::new([2; 32]));
        assert_eq!(a.mac("ab").len(), 64);
        assert_ne!(a.mac("ab"), a.mac("ac"));
        assert_ne!(a.mac("ab"), b.mac("ab"));
        // RFC 4231-style check against an independent computation: HMAC of
        // the context and hash under the key, recomputed by hand.
        let key = [1u8; 32];
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for i in 0..32 {
            ipad[i] ^= key[i];
            opad[i] ^= key[i];
        }
        use sha2::Digest;
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(CONTEXT)
            .chain_update(b"ab")
            .finalize();
        let outer = Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize();
        assert_eq!(a.mac("ab"), hex::encode(outer));
    }
}
