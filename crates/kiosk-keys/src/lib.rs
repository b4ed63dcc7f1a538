//! Mechanisms that touch keys: PKCS#11 tokens, signing with a key that
//! never leaves its token, and X.509 certificates and CRLs.
//!
//! No business rule lives here: which subject, which validity, which key
//! may be used for which order is decided by `kiosk-app` from the catalog
//! and the store. A PKCS#11 `Session` is not `Sync`; every type here that
//! holds one is used from one thread.

mod error;
mod pki;
mod signer;
mod token;

pub use error::KeyError;
pub use pki::{
    certificate_info, csr, issue, revocation_list, self_signed_ca, sub_ca, verify_signature,
    CertInfo, Revoked, SubjectSpec,
};
pub use signer::TokenSigner;
pub use token::{Module, ObjectSummary, TokenInfo, TokenSession};

pub use secrecy::{ExposeSecret, SecretString};
