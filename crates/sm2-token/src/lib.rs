//! `kiosk-sm2-token`: a **test** PKCS#11 v2.40 module that signs with the
//! Chinese SM2 algorithm, speaking the vendor-defined mechanism values of
//! SANSEC or TASS tokens.
//!
//! This is a test component of the kiosk project, in the role SoftHSM2 plays
//! for P-256 and RSA: no PKCS#11 module from a package registry signs with
//! SM2, so the project builds its own to test against. Production loads the
//! token vendor's module. Keys are kept in plain files (see `README.md`):
//! nothing here is hardware, and nothing here is certified.
//!
//! Layout:
//! - [`ffi`]: the exported `C_*` functions and the function list;
//! - [`token`]: slots, sessions, login and PIN rules, object access;
//! - [`ops`]: the cryptographic operations of a session;
//! - [`object`]: attributes and object templates;
//! - [`store`]: token directories and crash-safe files;
//! - [`pin`]: PIN hashing;
//! - [`sm2ops`]: SM2/SM3 primitives;
//! - [`vendor`]: the vendor mechanism tables, as data;
//! - [`config`]: the configuration file named by `KIOSK_SM2_TOKEN_CONF`.

pub mod config;
pub mod ffi;
pub mod object;
pub mod ops;
pub mod pin;
pub mod sm2ops;
pub mod store;
pub mod token;
pub mod vendor;

/// The result of an operation: an error is the `CK_RV` to return.
pub type Rv<T> = Result<T, cryptoki_sys::CK_RV>;

/// Fills `buf` from the operating system's random source.
pub(crate) fn random(buf: &mut [u8]) -> Rv<()> {
    getrandom::fill(buf).map_err(|_| cryptoki_sys::CKR_DEVICE_ERROR)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex string, if it is one.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// This module's shared library as cargo builds it for the test or bench
/// binary now running (of this crate, or of one that has it as a
/// dev-dependency): beside the binary, or one directory up.
pub fn library_for_current_exe() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    let deps = exe.parent().expect("its directory");
    [deps, deps.parent().unwrap_or(deps)]
        .iter()
        .map(|d| d.join("libkiosk_sm2_token.so"))
        .find(|p| p.is_file())
        .expect("libkiosk_sm2_token.so beside the running binary (cargo builds it with the tests and benches)")
}
