//! Helpers shared by the end-to-end tests and the sync benchmark: the
//! built binaries, a throwaway PostgreSQL, the central server and a
//! fault-injecting proxy.

pub mod bench;
pub mod central;
pub mod pg;
pub mod proxy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Path of the `kioskctl` binary of this build profile.
pub fn kioskctl() -> PathBuf {
    workspace_bin("kioskctl", "kioskctl")
}

/// Path of the binary `name` of package `package` in this build profile,
/// built first (once per process) since it lives in another package.
pub fn workspace_bin(name: &str, package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    let mut profile_dir = exe.parent().expect("target dir").to_path_buf();
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir.pop();
    }
    let bin = profile_dir.join(name);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo_build(&["--release", "-p", package, "--bin", name]);
    } else {
        cargo_build(WORKSPACE_BUILD);
    }
    assert!(bin.exists(), "{name} not found at {}", bin.display());
    built.insert(name.to_string(), bin.clone());
    bin
}

/// The debug build `scripts/test` makes before the tests: asking for it
/// again (same packages, same features) rebuilds nothing.
pub const WORKSPACE_BUILD: &[&str] = &["--workspace", "--all-targets"];

/// What cargo sets for the test it runs (its package, paths, crate name);
/// some build scripts (ring's) watch such variables.
const TEST_ONLY_ENV: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_BIN_",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

/// `cargo build ARGS` from inside a test, without the variables cargo set
/// for the test itself, so that build scripts that watch them are not
/// rerun, with everything that depends on them.
pub fn cargo_build(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.arg("build").args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if TEST_ONLY_ENV.iter().any(|p| name.starts_with(p)) {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build {} failed", args.join(" "));
}

/// Runs `cmd` to its end and returns its stdout; panics with `what` and
/// the command's output when it fails.
pub fn output_ok(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes a secret (a PIN) into `dir/secrets/<name>` with mode 0600, as an
/// operator sets one up for `KIOSK_STATION_PIN_FILE` and its kin, and
/// returns the file's path.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let path = secrets.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, value.as_bytes()).unwrap();
    path
}

/// Writes a SoftHSM2 configuration with its token directory under `dir`
/// and returns its path (for `SOFTHSM2_CONF`).
pub fn softhsm_conf(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    conf
}
