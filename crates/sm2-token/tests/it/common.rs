//! Helpers: each test runs in a process of its own (the module keeps one
//! state per process and reads its configuration at `C_Initialize`), with
//! its own token directory and configuration file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

pub const SO_PIN: &str = "so-pin-1234";
pub const USER_PIN: &str = "123456";

/// Set in a child process: the test to run there, and its work directory.
const CHILD_TEST: &str = "KIOSK_IT_TEST";
const CHILD_DIR: &str = "KIOSK_IT_DIR";
/// Set in a helper process: its role (see `helper::entry`).
pub const HELPER_ROLE: &str = "KIOSK_IT_HELPER";

/// The module under test, built by cargo next to this test binary.
pub fn module_path() -> PathBuf {
    kiosk_sm2_token::library_for_current_exe()
}

/// Runs `body` in a child process of this test binary, whose
/// `KIOSK_SM2_TOKEN_CONF` names a fresh configuration with `conf` lines
/// added. `name` is the test's path as the harness lists it.
pub fn isolated(name: &str, conf: &str, body: fn()) {
    if std::env::var(CHILD_TEST).as_deref() == Ok(name) {
        body();
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf_path = dir.path().join("token.conf");
    std::fs::write(
        &conf_path,
        format!("directories.tokendir = tokens\npin_kdf_iterations = 1000\n{conf}\n"),
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_TEST, name)
        .env(CHILD_DIR, dir.path())
        .env("KIOSK_SM2_TOKEN_CONF", &conf_path)
        .output()
        .expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed in its process");
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in its process"
    );
}

/// The work directory of the current (child) test.
pub fn work_dir() -> PathBuf {
    PathBuf::from(std::env::var(CHILD_DIR).expect("run through isolated()"))
}

/// Runs this test binary as a helper process with `role` and `args`,
/// returning its output (the configuration is inherited).
pub fn helper(role: &str, args: &[&str]) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "helper::entry",
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(HELPER_ROLE, format!("{role} {}", args.join(" ")))
        .env_remove(CHILD_TEST)
        .stdout(Stdio::piped())
        .output()
        .expect("spawn a helper")
}

pub fn open() -> Pkcs11 {
    let ctx = Pkcs11::new(module_path()).expect("load the module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    ctx
}

pub fn pin(s: &str) -> AuthPin {
    AuthPin::from(s)
}

pub fn vendor_mech(value: u64) -> Mechanism<'static> {
    Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
        MechanismType::new_vendor_defined(value as _).unwrap(),
        None,
    ))
}

/// A mechanism whose parameter is `param`'s bytes (the signer's ID).
pub fn vendor_mech_with<const N: usize>(value: u64, param: &'static [u8; N]) -> Mechanism<'static> {
    Mechanism::VendorDefined(VendorDefinedMechanism::new(
        MechanismType::new_vendor_defined(value as _).unwrap(),
        Some(param),
    ))
}

/// The slot of the token labelled `label`.
pub fn slot_by_label(ctx: &Pkcs11, label: &str) -> Option<Slot> {
    ctx.get_slots_with_token().unwrap().into_iter().find(|s| {
        ctx.get_token_info(*s)
            .is_ok_and(|t| t.token_initialized() && t.label() == label)
    })
}

/// Initialises a token on the free slot and sets its user PIN.
pub fn new_token(ctx: &Pkcs11, label: &str) -> Slot {
    let free = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| !ctx.get_token_info(*s).unwrap().token_initialized())
        .expect("a free slot");
    ctx.init_token(free, &pin(SO_PIN), label)
        .expect("C_InitToken");
    let slot = slot_by_label(ctx, label).expect("the new token");
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    slot
}

/// A read-write session logged in as the user.
pub fn user_session(ctx: &Pkcs11, slot: Slot) -> Session {
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s
}

/// Runs a program; panics with its output if it cannot start.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

pub use kiosk_oracles::gmssl_python;

/// Runs the gmssl venv's `python3 -c script args...`, returning its
/// trimmed stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(gmssl_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap();
}

/// A small pseudo-random generator for test timings.
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Jitter(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The `CKR_*` error of a failed call.
pub fn rv<T: std::fmt::Debug>(r: cryptoki::error::Result<T>) -> cryptoki::error::RvError {
    match r {
        Err(cryptoki::error::Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

/// `C_GetAttributeValue` of one attribute with a null buffer, called
/// directly (cryptoki hides the return value): (rv, ulValueLen).
pub fn raw_attribute_len(
    session: &Session,
    object: cryptoki::object::ObjectHandle,
    attr: cryptoki_sys::CK_ATTRIBUTE_TYPE,
) -> (cryptoki_sys::CK_RV, cryptoki_sys::CK_ULONG) {
    // SAFETY: the module is already loaded and initialised by `cryptoki`;
    // this loads the same library again and calls one exported function.
    unsafe {
        let lib = cryptoki_sys::Pkcs11::new(module_path()).expect("load the module");
        let mut a = cryptoki_sys::CK_ATTRIBUTE {
            type_: attr,
            pValue: std::ptr::null_mut(),
            ulValueLen: 0,
        };
        let rv = lib.C_GetAttributeValue(session.handle(), object.handle(), &mut a, 1);
        (rv, a.ulValueLen)
    }
}

/// `C_GetMechanismList`, called directly: cryptoki 0.12's
/// `get_mechanism_list` drops the vendor-defined values it cannot name.
pub fn raw_mechanism_list(slot: Slot) -> Vec<u64> {
    // SAFETY: as in `raw_attribute_len`; the buffer holds `count` values.
    unsafe {
        let lib = cryptoki_sys::Pkcs11::new(module_path()).expect("load the module");
        let mut count = 0;
        assert_eq!(
            lib.C_GetMechanismList(slot.id(), std::ptr::null_mut(), &mut count),
            0
        );
        let mut list = vec![0; count as usize];
        assert_eq!(
            lib.C_GetMechanismList(slot.id(), list.as_mut_ptr(), &mut count),
            0
        );
        list.into_iter().collect()
    }
}
