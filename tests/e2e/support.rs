use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// One `kioskctl` run: exit code, parsed stdout (with `--json`), stderr.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kioskctl --json --data-dir DIR ARGS...` as clerk `t01`.
pub fn ctl(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(kiosk_e2e::kioskctl());
    cmd.arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("KIOSK_CLERK", "t01")
        .env_remove("KIOSK_DATA_DIR");
    run(cmd)
}

pub fn run(mut cmd: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.stdin(Stdio::null()).output().expect("spawn kioskctl");
    let stdout = String::from_utf8(stdout).expect("utf-8 stdout");
    Run {
        code: status.code().unwrap_or(-1),
        json: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.json
    }

    /// Asserts a refusal (exit 1) with this error code and a Chinese message.
    #[track_caller]
    pub fn refused(self, code: &str) -> Value {
        assert_eq!(
            self.code, 1,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.json["error"]["code"], code, "{}", self.stdout);
        let msg = self.json["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "message not in Chinese: {msg}"
        );
        assert!(self.stderr.contains("错误"), "stderr: {}", self.stderr);
        self.json
    }
}

/// Writes `text` to a file in `dir` and returns its path.
pub fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The demo application with a JSON pointer changed.
pub fn application_with(pointer: &str, value: Value) -> String {
    let mut v: Value = serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).unwrap();
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = value;
    v.to_string()
}

/// Rows per table, read straight from the file.
pub fn counts(dir: &Path) -> (i64, i64, i64) {
    let c = rusqlite::Connection::open(dir.join("station.db")).unwrap();
    let n = |t: &str| {
        c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    (n("orders"), n("outbox"), n("audit"))
}
