//! Personal data in a record: each personal value of a payload is
//! replaced by the digest of its *disclosure* (a secret salt, the field
//! and the value), as SD-JWT does (RFC 9901, section 4.2), and the
//! disclosures travel beside the payload. The payload text, which the
//! audit trail and the central hash, then holds no personal value, and
//! stays the same, and verifiable, after the station destroys the
//! disclosures: its purge. The central checks every disclosure against a
//! digest in the payload and keeps them (it is the CA that must keep the
//! applicant's identity records).
//!
//! Salts are secret and derived per order by the station (`kiosk-store`),
//! so the same value of one order gets the same digest in the order and
//! in its records, and nobody can test a guessed ID number against a
//! digest without them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What a redacted value starts with, followed by 64 hex digits.
pub const MARK: &str = "sd:";

/// One personal value and what hides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// 16 secret bytes, hex.
    pub salt: String,
    /// Where the value sits: `handler.id_number`.
    pub field: String,
    pub value: String,
}

impl Disclosure {
    /// SHA-256 over the JSON array `[salt, field, value]`, hex.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(&[&self.salt, &self.field, &self.value])
            .expect("strings serialize");
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The string that stands for the value in a payload.
    pub fn marker(&self) -> String {
        format!("{MARK}{}", self.digest())
    }
}

/// Whether `s` is a redacted value.
pub fn is_marker(s: &str) -> bool {
    s.strip_prefix(MARK)
        .is_some_and(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The personal fields a value holds: `(parent, field)` pairs such as
/// `("handler", "id_number")`, found under any object key `parent`, as
/// non-empty strings not yet redacted.
pub fn holds_personal(v: &Value, fields: &[(&str, &str)]) -> bool {
    let mut found = false;
    visit(v, fields, &mut |_, s| {
        found |= !s.is_empty() && !is_marker(s)
    });
    found
}

fn visit(v: &Value, fields: &[(&str, &str)], f: &mut dyn FnMut(String, &str)) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if let Value::Object(inner) = child {
                    for (parent, field) in fields.iter().filter(|(p, _)| p == k) {
                        if let Some(Value::String(s)) = inner.get(*field) {
                            f(format!("{parent}.{field}"), s);
                        }
                    }
                }
                visit(child, fields, f);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| visit(i, fields, f)),
        _ => {}
    }
}

fn visit_mut(v: &mut Value, fields: &[(&str, &str)], f: &mut dyn FnMut(String, &mut String)) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if let Value::Object(inner) = child {
                    for (parent, field) in fields.iter().filter(|(p, _)| p == k) {
                        if let Some(Value::String(s)) = inner.get_mut(*field) {
                            f(format!("{parent}.{field}"), s);
                        }
                    }
                }
                visit_mut(child, fields, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| visit_mut(i, fields, f)),
        _ => {}
    }
}

/// Replaces every personal value of `v` by its marker and returns the
/// disclosures, one per distinct marker. `salt(field, value)` gives the
/// salt (hex).
pub fn redact(
    v: &mut Value,
    fields: &[(&str, &str)],
    salt: &mut dyn FnMut(&str, &str) -> String,
) -> Vec<Disclosure> {
    let mut out: Vec<Disclosure> = Vec::new();
    visit_mut(v, fields, &mut |field, s| {
        if s.is_empty() || is_marker(s) {
            return;
        }
        let d = Disclosure {
            salt: salt(&field, s),
            field,
            value: std::mem::take(s),
        };
        *s = d.marker();
        if !out.contains(&d) {
            out.push(d);
        }
    });
    out
}

/// Puts the disclosed values back in place of their markers; a marker with
/// no disclosure becomes `gone` (the empty string once purged).
pub fn restore(v: &mut Value, disclosures: &[Disclosure], gone: &str) {
    let by_marker: std::collections::HashMap<String, &str> = disclosures
        .iter()
        .map(|d| (d.marker(), d.value.as_str()))
        .collect();
    replace_markers(v, &mut |m| {
        by_marker
            .get(m)
            .map(|s| s.to_string())
            .unwrap_or_else(|| gone.to_string())
    });
}

fn replace_markers(v: &mut Value, f: &mut dyn FnMut(&str) -> String) {
    match v {
        Value::String(s) if is_marker(s) => *s = f(s),
        Value::Object(map) => map.values_mut().for_each(|c| replace_markers(c, f)),
        Value::Array(items) => items.iter_mut().for_each(|c| replace_markers(c, f)),
        _ => {}
    }
}

/// The markers in a payload, each at the field its key names
/// (`parent.field`).
fn markers(v: &Value, out: &mut Vec<(String, String)>, parent: &str, key: &str) {
    match v {
        Value::String(s) if is_marker(s) => out.push((format!("{parent}.{key}"), s.clone())),
        Value::Object(map) => map.iter().for_each(|(k, c)| markers(c, out, key, k)),
        Value::Array(items) => items.iter().for_each(|c| markers(c, out, parent, key)),
        _ => {}
    }
}

/// Why disclosures do not go with a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisclosureError {
    /// A marker in the payload has no disclosure.
    Missing { field: String },
    /// A disclosure whose digest is nowhere in the payload at its field
    /// (a value the payload never vouched for).
    Unvouched { field: String },
}

impl std::fmt::Display for DisclosureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisclosureError::Missing { field } => {
                write!(f, "the payload's {field} has no disclosure")
            }
            DisclosureError::Unvouched { field } => write!(
                f,
                "a disclosure of {field} matches no digest of the payload"
            ),
        }
    }
}

/// Checks that `disclosures` are exactly those of `payload`'s markers:
/// each marker disclosed, each disclosure's digest in the payload at its
/// field.
pub fn check(payload: &Value, disclosures: &[Disclosure]) -> Result<(), DisclosureError> {
    let mut found = Vec::new();
    markers(payload, &mut found, "", "");
    for d in disclosures {
        let m = d.marker();
        if !found.iter().any(|(f, s)| *f == d.field && *s == m) {
            return Err(DisclosureError::Unvouched {
                field: d.field.clone(),
            });
        }
    }
    for (field, m) in &found {
        if !disclosures.iter().any(|d| d.marker() == *m) {
            return Err(DisclosureError::Missing {
                field: field.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[(&str, &str)] = &[("handler", "id_number"), ("handler", "mobile")];

    fn salt(field: &str, value: &str) -> String {
        hex::encode(&Sha256::digest(format!("k{field}{value}").as_bytes())[..16])
    }

    #[test]
    fn values_are_redacted_wherever_they_sit_and_restored() {
        let plain = json!({"data": {"order": {"application": {"handler": {
            "name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000"}}},
            "command": {"application": {"handler": {"id_number": "11010519491231002X", "mobile": ""}}}}});
        let mut v = plain.clone();
        let ds = redact(&mut v, FIELDS, &mut salt);
        // Two values; the ID number twice, with one disclosure.
        assert_eq!(ds.len(), 2);
        let text = v.to_string();
        assert!(!text.contains("11010519491231002X") && !text.contains("13800138000"));
        assert!(text.contains("张三"), "only the listed fields are personal");
        assert_eq!(
            v["data"]["order"]["application"]["handler"]["id_number"],
            v["data"]["command"]["application"]["handler"]["id_number"]
        );
        // The digest is SHA-256 of the JSON array, as computed by hand.
        let d = &ds[0];
        let by_hand = hex::encode(Sha256::digest(
            format!(r#"["{}","handler.id_number","11010519491231002X"]"#, d.salt).as_bytes(),
        ));
        assert_eq!(d.digest(), by_hand);
        check(&v, &ds).unwrap();
        let mut back = v.clone();
        restore(&mut back, &ds, "");
        assert_eq!(back, plain);
        // Purged: the markers become the empty string.
        let mut purged = v.clone();
        restore(&mut purged, &[], "");
        assert_eq!(
            purged["data"]["order"]["application"]["handler"]["mobile"],
            ""
        );
    }

    #[test]
    fn a_lying_disclosure_is_refused() {
        let mut v =
            json!({"handler": {"id_number": "11010519491231002X", "mobile": "13800138000"}});
        let ds = redact(&mut v, FIELDS, &mut salt);
        // Another value under a real salt.
        let mut forged = ds.clone();
        forged[0].value = "110105194912310037".into();
        assert!(matches!(
            check(&v, &forged),
            Err(DisclosureError::Unvouched { .. })
        ));
        // The right value claimed for another field.
        let mut moved = ds.clone();
        moved[1].field = "handler.id_number".into();
        assert!(check(&v, &moved).is_err());
        // One left out.
        assert!(matches!(
            check(&v, &ds[..1]),
            Err(DisclosureError::Missing { .. })
        ));
        assert!(!holds_personal(&v, FIELDS));
    }
}
