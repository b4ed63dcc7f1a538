//! Personal data at rest. An order's personal values (the fields of
//! `kiosk_domain::application::PERSONAL_FIELDS`) never reach its body or
//! its outbox payloads: each is replaced there by the digest of its
//! disclosure (`kiosk_sync::personal`), and the disclosures are stored
//! beside the row, encrypted (AES-256-GCM) under the order's key, which
//! the station token derives (HMAC-SHA256 with the station's master
//! secret) from a random nonce the order keeps in `personal_keys`.
//! Scans are encrypted under the same key ([`Store::seal_file`]).
//!
//! The purge sets the nonce and every encrypted column of the order to
//! NULL (with `secure_delete`, SQLite overwrites what it frees): the key can
//! never be derived again, so whatever copy of a ciphertext survives, in
//! the WAL, a freed page or a backup, is noise. The body and the payloads
//! keep their digests, so the audit trail verifies as before.
//!
//! A station whose token is not set up has no keyer that gives a key: its
//! disclosures are kept unencrypted (`sealed = 0`), reported by
//! [`Store::personal_counts`], and purged the same way. Once a station has
//! sealed one order, a process that cannot use the token writes no more
//! personal data (`personal_key_unavailable`).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use kiosk_domain::application::PERSONAL_FIELDS;
use kiosk_domain::order::{Order, OrderState};
use kiosk_domain::Rejection;
use kiosk_sync::personal::{self as sd, Disclosure};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::db::ts;
use crate::journal::{Actor, Writer};
use crate::{Store, StoreError};

/// Derives an order's key in the station token from its nonce; `None`
/// while the station has no token set up. An error refuses the write or
/// the read.
pub type PersonalKeyer =
    Box<dyn FnMut(&[u8]) -> Result<Option<Zeroizing<[u8; 32]>>, Rejection> + Send>;

/// The first byte of a stored blob.
const PLAIN: u8 = 0;
const AES_GCM: u8 = 1;
/// Keys kept in memory at most, for the orders at hand.
const CACHE: usize = 256;

/// An order's key, in memory while the order is at hand.
pub(crate) struct OrderKey {
    key: Zeroizing<[u8; 32]>,
    sealed: bool,
}

impl OrderKey {
    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes any key length");
        for p in parts {
            m.update(p);
            m.update(&[0]);
        }
        m.finalize().into_bytes().into()
    }

    /// The secret salt of a value's disclosure: the same for the same
    /// field and value of one order, so its body and its records agree.
    fn salt(&self, field: &str, value: &str) -> String {
        hex::encode(&self.hmac(&[b"salt", field.as_bytes(), value.as_bytes()])[..16])
    }

    fn seal(&self, plain: &[u8], aad: &str) -> Vec<u8> {
        if !self.sealed {
            let mut out = vec![PLAIN];
            out.extend_from_slice(plain);
            return out;
        }
        let enc = Zeroizing::new(self.hmac(&[b"enc"]));
        let key =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, enc.as_slice()).expect("32 bytes"));
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .expect("AES-GCM seals any length the store writes");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(AES_GCM);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    fn open(&self, blob: &[u8], aad: &str) -> Result<Vec<u8>, StoreError> {
        let damaged = || {
            StoreError::Rejected(
                Rejection::field("personal", "个人信息", "personal_data_damaged")
                    .zh(
                        format!("加密保存的个人信息（{aad}）无法解密：数据被改动，或不是本站令牌加密的"),
                        "请勿改动数据库；请联系运维，从备份恢复",
                    )
                    .en(
                        format!("the encrypted personal data of {aad} does not decrypt: it was altered, or not sealed by this station's token"),
                        "do not edit the database; call support to restore from a backup",
                    ),
            )
        };
        match blob.split_first() {
            Some((&PLAIN, rest)) => Ok(rest.to_vec()),
            Some((&AES_GCM, rest)) if rest.len() >= NONCE_LEN => {
                let enc = Zeroizing::new(self.hmac(&[b"enc"]));
                let key = LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, enc.as_slice()).expect("32 bytes"),
                );
                let (nonce, ct) = rest.split_at(NONCE_LEN);
                let mut buf = ct.to_vec();
                let plain = key
                    .open_in_place(
                        Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?,
                        Aad::from(aad.as_bytes()),
                        &mut buf,
                    )
                    .map_err(|_| damaged())?;
                Ok(plain.to_vec())
            }
            _ => Err(damaged()),
        }
    }
}

/// The keyer and the keys at hand.
#[derive(Default)]
pub(crate) struct Personal {
    keyer: Option<PersonalKeyer>,
    keys: HashMap<String, std::sync::Arc<OrderKey>>,
}

pub(crate) type Keys = Mutex<Personal>;

/// Where an order's personal data stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PersonalState {
    /// Kept, encrypted under the station token (`sealed`) or not.
    Kept { sealed: bool },
    /// Destroyed at `at`.
    Purged { at: String },
    /// The order holds no personal value.
    None,
}

/// How many orders hold personal data, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PersonalCounts {
    pub sealed: i64,
    /// Kept unencrypted: the station token was not set up when written.
    pub unsealed: i64,
    pub purged: i64,
}

fn no_key(subject: &str) -> StoreError {
    StoreError::Rejected(
        Rejection::field("personal", "个人信息", "personal_key_unavailable")
            .zh(
                format!("{subject} 的个人信息由站点令牌加密，但现在无法使用站点令牌"),
                "请插好站点令牌并确认站点 PIN 已配置，然后重试",
            )
            .en(
                format!("the personal data of {subject} is sealed by the station token, which cannot be used now"),
                "plug in the station token, check the station PIN is configured, and retry",
            ),
    )
}

/// The key of `subject`: from the cache, from its stored nonce, or (when
/// `create`) a new one. `None`: the subject has none (or it was purged)
/// and none is to be made.
fn key_of(
    conn: &Connection,
    keys: &Keys,
    subject: &str,
    create: Option<DateTime<Utc>>,
) -> Result<Option<std::sync::Arc<OrderKey>>, StoreError> {
    let mut p = keys.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = p.keys.get(subject) {
        return Ok(Some(k.clone()));
    }
    let row: Option<(Option<Vec<u8>>, bool)> = conn
        .prepare_cached("SELECT nonce, sealed FROM personal_keys WHERE subject = ?1")?
        .query_row([subject], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    // The token's key: derived once, for a new nonce as for a stored one.
    let (nonce, token_key) = match (row, create) {
        (Some((Some(n), sealed)), _) => {
            let n = Zeroizing::new(n);
            let k = if sealed {
                let keyer = p.keyer.as_mut().ok_or_else(|| no_key(subject))?;
                Some(
                    keyer(&n)
                        .map_err(StoreError::Rejected)?
                        .ok_or_else(|| no_key(subject))?,
                )
            } else {
                None
            };
            (n, k)
        }
        (Some((None, _)), _) | (None, None) => return Ok(None),
        (None, Some(now)) => {
            let mut n = Zeroizing::new(vec![0u8; 32]);
            SystemRandom::new()
                .fill(&mut n)
                .expect("the system's random source");
            let k = match p.keyer.as_mut() {
                Some(keyer) => keyer(&n).map_err(StoreError::Rejected)?,
                None => None,
            };
            // Once a station sealed personal data, a process without the
            // token (no PIN, no keyer) may not write it in clear.
            if k.is_none() {
                let ever: bool = conn
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM personal_keys WHERE sealed = 1)")?
                    .query_row([], |r| r.get(0))?;
                if ever {
                    return Err(no_key(subject));
                }
            }
            conn.prepare_cached(
                "INSERT INTO personal_keys (subject, nonce, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((subject, n.as_slice(), k.is_some(), ts(now)))?;
            (n, k)
        }
    };
    let sealed = token_key.is_some();
    let key = token_key.unwrap_or_else(|| {
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(
            &Sha256::new()
                .chain_update(b"kiosk-personal-unsealed:")
                .chain_update(nonce.as_slice())
                .finalize(),
        );
        k
    });
    let key = std::sync::Arc::new(OrderKey { key, sealed });
    if p.keys.len() >= CACHE {
        p.keys.clear();
    }
    p.keys.insert(subject.to_string(), key.clone());
    Ok(Some(key))
}

/// `v` with its personal values redacted under `key`, and the sealed
/// disclosures (`None`: there were none).
fn redact(key: &OrderKey, v: &mut Value, aad: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let ds = sd::redact(v, PERSONAL_FIELDS, &mut |f, val| key.salt(f, val));
    if ds.is_empty() {
        return Ok(None);
    }
    Ok(Some(key.seal(&serde_json::to_vec(&ds)?, aad)))
}

fn order_aad(id: &str) -> String {
    format!("orders:{id}")
}

fn outbox_aad(id: &str) -> String {
    format!("outbox:{id}")
}

impl Store {
    /// Installs what derives orders' keys in the station token.
    pub fn set_personal_keyer(&mut self, keyer: PersonalKeyer) {
        let mut p = self.personal.lock().unwrap_or_else(|e| e.into_inner());
        p.keyer = Some(keyer);
        p.keys.clear();
    }

    /// An order as stored: its body with the personal values put back, or
    /// left empty once purged.
    pub(crate) fn order_from_row(
        &self,
        id: &str,
        body: &str,
        personal: Option<Vec<u8>>,
    ) -> Result<Order, StoreError> {
        let mut v: Value = serde_json::from_str(body)?;
        let ds = match personal {
            Some(blob) => {
                let key =
                    key_of(&self.conn, &self.personal, id, None)?.ok_or_else(|| no_key(id))?;
                serde_json::from_slice(&key.open(&blob, &order_aad(id))?)?
            }
            None => Vec::new(),
        };
        sd::restore(&mut v, &ds, "");
        Ok(serde_json::from_value(v)?)
    }

    /// The disclosures of an outbox record, for the central.
    pub(crate) fn disclosures_of(
        &self,
        id: &str,
        subject: &str,
        personal: Option<Vec<u8>>,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let Some(blob) = personal else {
            return Ok(Vec::new());
        };
        let key =
            key_of(&self.conn, &self.personal, subject, None)?.ok_or_else(|| no_key(subject))?;
        Ok(serde_json::from_slice(&key.open(&blob, &outbox_aad(id))?)?)
    }

    /// Encrypts a file of `order_id`'s (a scan) under its key; `aad` names
    /// the file, so that one cannot stand in for another.
    pub fn seal_file(
        &mut self,
        order_id: &str,
        bytes: &[u8],
        aad: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, StoreError> {
        let key = key_of(&self.conn, &self.personal, order_id, Some(now))?
            .ok_or_else(|| purged(order_id))?;
        Ok(key.seal(bytes, &format!("file:{order_id}:{aad}")))
    }

    /// A file [`Store::seal_file`] wrote.
    pub fn open_file(&self, order_id: &str, blob: &[u8], aad: &str) -> Result<Vec<u8>, StoreError> {
        let key =
            key_of(&self.conn, &self.personal, order_id, None)?.ok_or_else(|| purged(order_id))?;
        key.open(blob, &format!("file:{order_id}:{aad}"))
    }

    /// Where an order's personal data stands.
    pub fn personal_state(&self, order_id: &str) -> Result<PersonalState, StoreError> {
        let row: Option<(Option<Vec<u8>>, bool, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT nonce, sealed, purged_at FROM personal_keys WHERE subject = ?1",
            )?
            .query_row([order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(match row {
            Some((_, _, Some(at))) => PersonalState::Purged { at },
            Some((Some(_), sealed, None)) => PersonalState::Kept { sealed },
            _ => PersonalState::None,
        })
    }

    pub fn personal_counts(&self) -> Result<PersonalCounts, StoreError> {
        let n = |sql: &str| -> Result<i64, StoreError> {
            Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
        };
        Ok(PersonalCounts {
            sealed: n("SELECT count(*) FROM personal_keys WHERE nonce IS NOT NULL AND sealed = 1")?,
            unsealed: n(
                "SELECT count(*) FROM personal_keys WHERE nonce IS NOT NULL AND sealed = 0",
            )?,
            purged: n("SELECT count(*) FROM personal_keys WHERE purged_at IS NOT NULL")?,
        })
    }

    /// The ended orders (id, number) whose personal data is due for the
    /// purge: every record of them that carries personal data was
    /// acknowledged by the central at or before `cutoff`.
    pub fn purge_due(&self, cutoff: DateTime<Utc>) -> Result<Vec<(String, String)>, StoreError> {
        self.due(cutoff, None)
    }

    /// [`Store::purge_due`], of every order or of `only`.
    fn due(
        &self,
        cutoff: DateTime<Utc>,
        only: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        const ENDED: [OrderState; 2] = [OrderState::Completed, OrderState::Cancelled];
        debug_assert!(ENDED.iter().all(|s| s.is_final()));
        let ended: Vec<&str> = ENDED.iter().map(|s| s.as_str()).collect();
        let mut stmt = self.conn.prepare_cached(
            "SELECT o.id, o.number FROM orders o JOIN personal_keys k ON k.subject = o.id
             WHERE (?3 IS NULL OR o.id = ?3)
               AND k.nonce IS NOT NULL AND o.state IN (SELECT value FROM json_each(?1))
               AND o.updated_at <= ?2
               AND NOT EXISTS (SELECT 1 FROM outbox x
                               WHERE x.personal_subject = o.id AND x.acked_at IS NULL)
               AND coalesce((SELECT max(x.acked_at) FROM outbox x
                             WHERE x.personal_subject = o.id), '') <= ?2
             ORDER BY o.updated_at",
        )?;
        let rows = stmt.query_map((serde_json::to_string(&ended)?, ts(cutoff), only), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Destroys an order's personal data: its key's nonce and every
    /// encrypted value, in one transaction with the record that says so.
    /// Refused for an order not due at `cutoff` ([`Store::purge_due`]).
    /// What SQLite freed is zeroed (`secure_delete`); the caller folds the
    /// WAL, which held the pages before, back with [`Store::checkpoint`]
    /// once its purges are done.
    pub fn purge_personal(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        order_id: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some((_, number)) = self.due(cutoff, Some(order_id))?.into_iter().next() else {
            return Err(StoreError::Rejected(
                Rejection::field("order", "订单", "not_purgeable")
                    .zh(
                        format!("订单 {order_id} 尚未办结、中心尚未确认接收其全部记录，或个人信息已清除"),
                        "办结并同步至中心后，到期自动清除",
                    )
                    .en(
                        format!("order {order_id} has not ended, the central has not acknowledged all of it, or it was purged already"),
                        "it is purged when due, once ended and synced",
                    ),
            ));
        };
        self.personal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .remove(order_id);
        self.write(actor, now, |w| {
            w.tx().execute(
                "UPDATE personal_keys SET nonce = NULL, purged_at = ?2 WHERE subject = ?1",
                (order_id, ts(now)),
            )?;
            w.tx()
                .execute("UPDATE orders SET personal = NULL WHERE id = ?1", [order_id])?;
            w.tx().execute(
                "UPDATE outbox SET personal = NULL WHERE personal_subject = ?1 AND personal IS NOT NULL",
                [order_id],
            )?;
            let (state, revision): (String, i64) = w.tx().query_row(
                "SELECT state, revision FROM orders WHERE id = ?1",
                [order_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            w.record(
                "order.purged",
                order_id,
                json!({ "order_id": order_id, "number": number, "revision": revision,
                        "to": state, "fields": PERSONAL_FIELDS.iter()
                            .map(|(o, f)| format!("{o}.{f}")).collect::<Vec<_>>() }),
                json!({ "number": number, "purged": true }),
            )?;
            Ok(())
        })
    }
}

fn purged(order_id: &str) -> StoreError {
    StoreError::Rejected(
        Rejection::field("order", "订单", "personal_data_purged")
            .zh(
                format!("订单 {order_id} 的个人信息和扫描件已按保存期限清除"),
                "如需核查，请向中心查询",
            )
            .en(
                format!("the personal data and scans of order {order_id} were purged after their retention period"),
                "ask the central, which keeps the records",
            ),
    )
}

impl Writer<'_> {
    /// `order`'s body as stored, with its personal values redacted, and
    /// their sealed disclosures.
    pub(crate) fn order_body(
        &mut self,
        order: &Order,
    ) -> Result<(String, Option<Vec<u8>>), StoreError> {
        let mut v = serde_json::to_value(order)?;
        if !sd::holds_personal(&v, PERSONAL_FIELDS) {
            return Ok((v.to_string(), None));
        }
        let key = key_of(self.tx(), self.personal, &order.id, Some(self.now))?
            .ok_or_else(|| purged(&order.id))?;
        let blob = redact(&key, &mut v, &order_aad(&order.id))?;
        Ok((v.to_string(), blob))
    }

    /// A record's data with its personal values redacted under
    /// `subject`'s key, and their sealed disclosures.
    pub(crate) fn redact_record(
        &mut self,
        subject: &str,
        outbox_id: &str,
        data: &mut Value,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if !sd::holds_personal(data, PERSONAL_FIELDS) {
            return Ok(None);
        }
        let key = key_of(self.tx(), self.personal, subject, Some(self.now))?
            .ok_or_else(|| purged(subject))?;
        redact(&key, data, &outbox_aad(outbox_id))
    }
}
