//! Objects as maps of attributes, each value held as the bytes PKCS#11
//! returns for it (a `CK_ULONG` in native byte order, a `CK_BBOOL` as one
//! byte), and the templates that say which attributes a class has.

use std::collections::BTreeMap;

use cryptoki_sys::*;

use crate::sm2ops::SM2_EC_PARAMS;
use crate::Rv;

pub type Attrs = BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>;

pub fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

pub fn flag(b: bool) -> Vec<u8> {
    vec![b as u8]
}

/// Attributes whose value is a `CK_BBOOL`.
const BOOLS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_TRUSTED,
    CKA_SENSITIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN,
    CKA_SIGN_RECOVER,
    CKA_VERIFY,
    CKA_VERIFY_RECOVER,
    CKA_DERIVE,
    CKA_EXTRACTABLE,
    CKA_LOCAL,
    CKA_NEVER_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
];

/// Attributes whose value is a `CK_ULONG`.
const ULONGS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_CERTIFICATE_TYPE,
    CKA_CERTIFICATE_CATEGORY,
    CKA_VALUE_LEN,
    CKA_KEY_GEN_MECHANISM,
];

/// Attributes `C_SetAttributeValue` may change.
const SETTABLE: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_LABEL,
    CKA_ID,
    CKA_SUBJECT,
    CKA_APPLICATION,
    CKA_START_DATE,
    CKA_END_DATE,
];

/// Checks that each value has the size of its type.
pub fn check_sizes(template: &Attrs) -> Rv<()> {
    for (t, v) in template {
        let want = if BOOLS.contains(t) {
            Some(1)
        } else if ULONGS.contains(t) {
            Some(std::mem::size_of::<CK_ULONG>())
        } else {
            None
        };
        if want.is_some_and(|n| n != v.len()) {
            return Err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
    }
    Ok(())
}

/// An object's attributes with typed accessors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object(pub Attrs);

impl Object {
    pub fn get(&self, t: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.0.get(&t).map(Vec::as_slice)
    }

    pub fn flag(&self, t: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(t) == Some(&[1])
    }

    pub fn ulong(&self, t: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        Some(CK_ULONG::from_ne_bytes(self.get(t)?.try_into().ok()?))
    }

    pub fn class(&self) -> Option<CK_OBJECT_CLASS> {
        self.ulong(CKA_CLASS)
    }

    pub fn is_private(&self) -> bool {
        self.flag(CKA_PRIVATE)
    }

    /// Whether `t` may not be read: the value of a sensitive or
    /// non-extractable private or secret key.
    pub fn is_secret_attribute(&self, t: CK_ATTRIBUTE_TYPE) -> bool {
        t == CKA_VALUE
            && matches!(self.class(), Some(CKO_PRIVATE_KEY | CKO_SECRET_KEY))
            && (self.flag(CKA_SENSITIVE) || !self.flag(CKA_EXTRACTABLE))
    }

    /// Whether every attribute of `template` has that value here. A secret
    /// attribute never matches.
    pub fn matches(&self, template: &Attrs) -> bool {
        template
            .iter()
            .all(|(t, v)| !self.is_secret_attribute(*t) && self.get(*t) == Some(v.as_slice()))
    }

    /// Applies `C_SetAttributeValue`: only names, ids and dates change, and
    /// `CKA_SENSITIVE`/`CKA_EXTRACTABLE` only towards more protection.
    pub fn set(&mut self, changes: &Attrs) -> Rv<()> {
        if !self.flag(CKA_MODIFIABLE) {
            return Err(CKR_ATTRIBUTE_READ_ONLY);
        }
        check_sizes(changes)?;
        for (t, v) in changes {
            let allowed = SETTABLE.contains(t) && self.0.contains_key(t)
                || (*t == CKA_SENSITIVE && self.0.contains_key(t) && v == &[1])
                || (*t == CKA_EXTRACTABLE && self.0.contains_key(t) && v == &[0]);
            if !allowed {
                return Err(CKR_ATTRIBUTE_READ_ONLY);
            }
        }
        self.0.extend(changes.iter().map(|(t, v)| (*t, v.clone())));
        Ok(())
    }
}

/// Which kind of object a template builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Data,
    Certificate,
    /// An SM2 key of the given key type (the vendor's `CKK_SM2` or `CKK_EC`).
    PublicKey(CK_KEY_TYPE),
    PrivateKey(CK_KEY_TYPE),
    SecretKey,
}

impl Shape {
    fn class(self) -> CK_OBJECT_CLASS {
        match self {
            Shape::Data => CKO_DATA,
            Shape::Certificate => CKO_CERTIFICATE,
            Shape::PublicKey(_) => CKO_PUBLIC_KEY,
            Shape::PrivateKey(_) => CKO_PRIVATE_KEY,
            Shape::SecretKey => CKO_SECRET_KEY,
        }
    }

    /// Every attribute of the shape with its default. Keys are private,
    /// sensitive and not extractable unless the template says otherwise.
    fn defaults(self) -> Attrs {
        let empty = Vec::new;
        let mut a: Attrs = [
            (CKA_CLASS, ulong(self.class())),
            (CKA_TOKEN, flag(false)),
            (
                CKA_PRIVATE,
                flag(matches!(self, Shape::PrivateKey(_) | Shape::SecretKey)),
            ),
            (CKA_MODIFIABLE, flag(true)),
            (CKA_LABEL, empty()),
        ]
        .into();
        let key_type = match self {
            Shape::Data => {
                a.extend([
                    (CKA_APPLICATION, empty()),
                    (CKA_OBJECT_ID, empty()),
                    (CKA_VALUE, empty()),
                ]);
                return a;
            }
            Shape::Certificate => {
                a.extend([
                    (CKA_CERTIFICATE_TYPE, ulong(CKC_X_509)),
                    (CKA_TRUSTED, flag(false)),
                    (CKA_CERTIFICATE_CATEGORY, ulong(0)),
                    (CKA_SUBJECT, empty()),
                    (CKA_ID, empty()),
                    (CKA_ISSUER, empty()),
                    (CKA_SERIAL_NUMBER, empty()),
                    (CKA_VALUE, empty()),
                ]);
                return a;
            }
            Shape::PublicKey(k) | Shape::PrivateKey(k) => k,
            Shape::SecretKey => CKK_GENERIC_SECRET,
        };
        a.extend([
            (CKA_KEY_TYPE, ulong(key_type)),
            (CKA_ID, empty()),
            (CKA_START_DATE, empty()),
            (CKA_END_DATE, empty()),
            (CKA_DERIVE, flag(false)),
            (CKA_LOCAL, flag(false)),
            (CKA_KEY_GEN_MECHANISM, ulong(CK_UNAVAILABLE_INFORMATION)),
        ]);
        let protected = [
            (CKA_SENSITIVE, flag(true)),
            (CKA_EXTRACTABLE, flag(false)),
            (CKA_ALWAYS_SENSITIVE, flag(false)),
            (CKA_NEVER_EXTRACTABLE, flag(false)),
            (CKA_WRAP, flag(false)),
            (CKA_UNWRAP, flag(false)),
            (CKA_VALUE, empty()),
        ];
        match self {
            Shape::PublicKey(_) => a.extend([
                (CKA_SUBJECT, empty()),
                (CKA_ENCRYPT, flag(true)),
                (CKA_VERIFY, flag(true)),
                (CKA_VERIFY_RECOVER, flag(false)),
                (CKA_WRAP, flag(false)),
                (CKA_TRUSTED, flag(false)),
                (CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec()),
                (CKA_EC_POINT, empty()),
            ]),
            Shape::PrivateKey(_) => {
                a.extend(protected);
                a.extend([
                    (CKA_SUBJECT, empty()),
                    (CKA_DECRYPT, flag(true)),
                    (CKA_SIGN, flag(true)),
                    (CKA_SIGN_RECOVER, flag(false)),
                    (CKA_WRAP_WITH_TRUSTED, flag(false)),
                    (CKA_ALWAYS_AUTHENTICATE, flag(false)),
                    (CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec()),
                ]);
            }
            _ => {
                a.extend(protected);
                a.extend([
                    (CKA_ENCRYPT, flag(false)),
                    (CKA_DECRYPT, flag(false)),
                    (CKA_SIGN, flag(true)),
                    (CKA_VERIFY, flag(true)),
                    (CKA_VALUE_LEN, ulong(0)),
                ]);
            }
        }
        a
    }

    /// Builds an object: the defaults, overridden by the caller's
    /// `template` (which may hold only attributes of the shape), then the
    /// values the token sets itself (`fixed`), which the template may repeat
    /// but not contradict.
    pub fn build(self, template: &Attrs, fixed: Attrs) -> Rv<Object> {
        check_sizes(template)?;
        let mut attrs = self.defaults();
        for (t, v) in template {
            if !attrs.contains_key(t) {
                return Err(CKR_ATTRIBUTE_TYPE_INVALID);
            }
            attrs.insert(*t, v.clone());
        }
        for (t, v) in fixed {
            if template.get(&t).is_some_and(|given| *given != v) {
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            attrs.insert(t, v);
        }
        Ok(Object(attrs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_merges_and_guards() {
        let template: Attrs = [(CKA_LABEL, b"k".to_vec()), (CKA_SENSITIVE, flag(false))].into();
        let o = Shape::SecretKey
            .build(&template, [(CKA_VALUE, vec![1, 2])].into())
            .unwrap();
        assert_eq!(o.get(CKA_LABEL), Some(&b"k"[..]));
        assert!(o.is_private() && !o.flag(CKA_SENSITIVE));
        assert!(
            o.is_secret_attribute(CKA_VALUE),
            "not extractable by default"
        );
        let bad: Attrs = [(CKA_EC_POINT, vec![])].into();
        assert_eq!(
            Shape::Data.build(&bad, Attrs::new()),
            Err(CKR_ATTRIBUTE_TYPE_INVALID)
        );
        let clash: Attrs = [(CKA_CLASS, ulong(CKO_DATA))].into();
        assert_eq!(
            Shape::SecretKey.build(&clash, [(CKA_CLASS, ulong(CKO_SECRET_KEY))].into()),
            Err(CKR_TEMPLATE_INCONSISTENT)
        );
    }

    #[test]
    fn set_changes_only_names_and_protection() {
        let mut o = Shape::SecretKey.build(&Attrs::new(), Attrs::new()).unwrap();
        assert!(o.set(&[(CKA_LABEL, b"x".to_vec())].into()).is_ok());
        assert_eq!(
            o.set(&[(CKA_SENSITIVE, flag(false))].into()),
            Err(CKR_ATTRIBUTE_READ_ONLY)
        );
        assert_eq!(
            o.set(&[(CKA_VALUE, vec![0])].into()),
            Err(CKR_ATTRIBUTE_READ_ONLY)
        );
    }
}
