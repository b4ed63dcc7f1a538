//! The reference `central` server as a child process, and its admin
//! commands.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::{output_ok, workspace_bin};

pub struct Central {
    child: Child,
    pub addr: SocketAddr,
    /// Its plain HTTP listener for relying parties (`--public-listen`).
    pub public: Option<SocketAddr>,
    /// Its loopback listener of the operator's status page.
    pub status: SocketAddr,
}

/// A TLS certificate and key for 127.0.0.1 in `dir`: (cert, key).
pub fn tls_init(dir: &Path) -> (PathBuf, PathBuf) {
    output_ok(
        Command::new(workspace_bin("central", "central"))
            .args([
                "tls-init",
                "--host",
                "127.0.0.1",
                "--host",
                "localhost",
                "--out",
            ])
            .arg(dir),
        "central tls-init",
    );
    (dir.join("central-tls.pem"), dir.join("central-tls.key"))
}

/// Runs `central <args>` against `db`; its JSON answer, or panics.
pub fn admin(db: &str, args: &[&str]) -> Value {
    let out = output_ok(
        Command::new(workspace_bin("central", "central"))
            .env("CENTRAL_DATABASE_URL", db)
            .args(args),
        &format!("central {args:?}"),
    );
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

impl Central {
    /// Starts `central serve` on `listen` (port 0: any) and waits until it
    /// listens.
    pub fn start(db: &str, tls: &(PathBuf, PathBuf), listen: &str, max_skew_secs: u64) -> Central {
        Central::start_with(db, tls, listen, max_skew_secs, &[])
    }

    /// [`Central::start`] with more arguments to `central serve`.
    pub fn start_with(
        db: &str,
        tls: &(PathBuf, PathBuf),
        listen: &str,
        max_skew_secs: u64,
        more: &[&str],
    ) -> Central {
        let mut child = Command::new(workspace_bin("central", "central"))
            .env("CENTRAL_DATABASE_URL", db)
            .args(["serve", "--listen", listen, "--tls-cert"])
            .arg(&tls.0)
            .arg("--tls-key")
            .arg(&tls.1)
            .args(["--max-skew-secs", &max_skew_secs.to_string()])
            .arg("--status-listen=127.0.0.1:0")
            .args(more)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("https://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("central did not start: {line:?}"));
        // "central [public CRLs on http://ADDR, ]status on http://ADDR,
        // listening on https://ADDR"
        let after = |label: &str| {
            line.split(label)
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|a| a.parse().ok())
        };
        Central {
            child,
            addr,
            public: after("public CRLs on http://"),
            status: after("status on http://").expect("a status listener"),
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// SIGKILL, as a crash or a power cut would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        self.kill9();
    }
}
