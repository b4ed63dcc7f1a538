use thiserror::Error;

/// A failure below the rules, keeping which PKCS#11 function failed.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("PKCS#11 module {path} cannot be loaded: {source}")]
    Module {
        path: String,
        source: cryptoki::error::Error,
    },
    #[error("{function} failed: {source}")]
    Pkcs11 {
        function: &'static str,
        source: cryptoki::error::Error,
    },
    #[error("no token with {what} {value}")]
    NoToken { what: &'static str, value: String },
    #[error("the PIN is wrong")]
    WrongPin,
    #[error("the PIN is locked")]
    PinLocked,
    #[error("object {0} not found on the token")]
    NoObject(String),
    #[error("{function} failed: {message}")]
    Pcsc {
        function: &'static str,
        message: String,
    },
    #[error("certificate: {0}")]
    X509(String),
}

impl KeyError {
    /// Wraps a cryptoki error, sorting PIN failures out.
    pub(crate) fn at(function: &'static str) -> impl FnOnce(cryptoki::error::Error) -> KeyError {
        move |source| {
            use cryptoki::error::{Error, RvError};
            match &source {
                Error::Pkcs11(RvError::PinIncorrect, _) => KeyError::WrongPin,
                Error::Pkcs11(RvError::PinLocked, _) => KeyError::PinLocked,
                _ => KeyError::Pkcs11 { function, source },
            }
        }
    }
}

impl From<rcgen::Error> for KeyError {
    fn from(e: rcgen::Error) -> Self {
        KeyError::X509(e.to_string())
    }
}
