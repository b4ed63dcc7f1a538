//! Helpers shared by the end-to-end tests: finding the built `kioskctl`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of the `kioskctl` binary of this build profile, building it first
/// when the test run did not (it lives in another package).
pub fn kioskctl() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/<test> → target/<profile>/kioskctl
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target profile dir")
            .to_path_buf();
        let bin = profile_dir.join("kioskctl");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "kioskctl"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p kioskctl");
        assert!(status.success(), "cargo build -p kioskctl failed");
        assert!(bin.exists(), "kioskctl not found at {}", bin.display());
        bin
    })
    .clone()
}
