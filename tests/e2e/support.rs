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

/// Runs `kioskctl --json --data-dir DIR ARGS...` as a logged-in clerk:
/// as it is, and when that is refused for want of a session, again once
/// the clerk has logged in (see [`signed_in`]). A refusal writes nothing,
/// so the first try leaves no trace; a reading or a demo run never makes
/// accounts.
pub fn ctl(dir: &Path, args: &[&str]) -> Run {
    let once = |runtime: &Path| ctl_in(&bare, dir, runtime, args, &[]);
    let first = once(&dir.join(CLERK_RUNTIME));
    if first.json["error"]["code"] != "not_logged_in" {
        return first;
    }
    once(&signed_in(&bare, dir))
}

/// `kioskctl` with nothing of the caller's environment that would choose
/// its data directory.
fn bare() -> Command {
    let mut c = Command::new(kiosk_e2e::kioskctl());
    c.env_remove("KIOSK_DATA_DIR");
    c
}

/// The password of clerk `t01`, whom the tests act as.
pub const CLERK_SECRET: &str = "t01-secret-1";

/// Where, under a station's data directory, the tests keep the clerk's
/// runtime directory (its session file).
const CLERK_RUNTIME: &str = ".runtime-clerk";

/// The runtime directory that holds a clerk's session at the station in
/// `data`, as a clerk gets one, with `kioskctl login`. On a station the
/// demo made it is the demo's documented clerk; elsewhere it is `t01`,
/// whom the station's two supervisors add on first use (see
/// [`privileged`]). `base` is the `kioskctl` command with the test's
/// environment.
pub fn signed_in(base: &dyn Fn() -> Command, data: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let runtime = data.join(CLERK_RUNTIME);
    if runtime.join("kiosk-station").exists() {
        return runtime;
    }
    let (id, secret) = if data.join(kiosk_app::demo::DEMO_MARKER).exists() {
        let (id, _, _, secret) = kiosk_app::demo::DEMO_ACCOUNTS[0];
        (id, secret)
    } else {
        privileged(
            base,
            data,
            &["clerk", "add", "t01", "--role", "clerk", "--password-stdin"],
            &[CLERK_SECRET],
        )
        .ok();
        ("t01", CLERK_SECRET)
    };
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    ctl_in(
        base,
        data,
        &runtime,
        &["login", "--clerk", id, "--password-stdin"],
        &[secret],
    )
    .ok();
    runtime
}

/// `kioskctl ARGS...` in `data` as supervisor `boss1`, logged in, with
/// no approver (a CA ceremony needs a supervisor's session), and these
/// lines on stdin.
pub fn as_boss(base: &dyn Fn() -> Command, data: &Path, args: &[&str], stdin: &[&str]) -> Run {
    let runtime = bosses(base, data);
    ctl_in(base, data, &runtime, args, stdin)
}

/// The password of the two supervisors a test station starts with
/// (`boss1`, `boss2`).
pub const BOSS_SECRET: &str = "boss-secret-1";

/// A privileged command (cert revoke, catalog import and set-tariff,
/// clerk add and deactivate) as a station's operators run one: `boss1`
/// logged in, `boss2` approving with their password on stdin. The two are
/// made as the station's first supervisors when missing. `base` is the
/// `kioskctl` command with the test's environment; `more_stdin` follows
/// the approver's password (a new account's password).
pub fn privileged(
    base: &dyn Fn() -> Command,
    data: &Path,
    args: &[&str],
    more_stdin: &[&str],
) -> Run {
    let runtime = bosses(base, data);
    let mut all = args.to_vec();
    all.extend(["--approver", "boss2", "--approver-stdin"]);
    let mut stdin = vec![BOSS_SECRET];
    stdin.extend(more_stdin);
    ctl_in(base, data, &runtime, &all, &stdin)
}

/// The runtime directory of `boss1`'s session in `data`: the station's
/// first two supervisors, `boss1` and `boss2`, are made when missing and
/// `boss1` logs in.
fn bosses(base: &dyn Fn() -> Command, data: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let runtime = data.join(".runtime-boss");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let ctl = |args: &[&str], stdin: &[&str]| ctl_in(base, data, &runtime, args, stdin);
    let clerks = ctl(&["clerk", "list"], &[]).ok();
    for id in ["boss1", "boss2"] {
        let known = clerks["clerks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id);
        if !known {
            ctl(
                &[
                    "clerk",
                    "add",
                    id,
                    "--role",
                    "supervisor",
                    "--password-stdin",
                ],
                &[BOSS_SECRET],
            )
            .ok();
        }
    }
    ctl(
        &["login", "--clerk", "boss1", "--password-stdin"],
        &[BOSS_SECRET],
    )
    .ok();
    runtime
}

/// `kioskctl --json --data-dir DATA ARGS...` with this user's runtime
/// directory (where `login` keeps its session) and these stdin lines.
pub fn ctl_in(
    base: &dyn Fn() -> Command,
    data: &Path,
    runtime: &Path,
    args: &[&str],
    stdin: &[&str],
) -> Run {
    let mut c = base();
    c.arg("--json")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime);
    run_with_stdin(c, stdin)
}

/// [`privileged`] on a station run by [`ctl`].
pub fn ctl_privileged(dir: &Path, args: &[&str]) -> Run {
    privileged(&bare, dir, args, &[])
}

pub fn run(cmd: Command) -> Run {
    run_with_stdin(cmd, &[])
}

/// Runs a command with these lines on its stdin (none: stdin is closed).
pub fn run_with_stdin(mut cmd: Command, lines: &[&str]) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kioskctl");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("kioskctl output");
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

/// The SM2 test token (`crates/sm2-token`, SANSEC set) for this test
/// process: the module, loaded once, and its configuration file, which a
/// `kioskctl` child names in `KIOSK_SM2_TOKEN_CONF` to see the same
/// tokens. Tokens are told apart by label.
pub fn sm2_token() -> &'static (kiosk_keys::Module, PathBuf, PathBuf) {
    static TOKEN: std::sync::OnceLock<(kiosk_keys::Module, PathBuf, PathBuf)> =
        std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        // Kept for the life of the test process.
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::create_dir(dir.join("tokens")).unwrap();
        let conf = dir.join("sm2-token.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nvendor = sansec\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        std::env::set_var("KIOSK_SM2_TOKEN_CONF", &conf);
        let library = kiosk_sm2_token::library_for_current_exe();
        let m = kiosk_keys::Module::load(library.to_str().unwrap()).unwrap();
        (m, conf, library)
    })
}

/// A new token labelled `label` on the SM2 test token, logged in as user
/// with `pin`.
pub fn sm2_new_token(label: &str, pin: &str) -> kiosk_keys::TokenSession {
    let (m, _, _) = sm2_token();
    let secret = |p: &str| kiosk_keys::SecretString::from(p.to_string());
    m.init_token(m.free_slot().unwrap(), &secret("so-13572468"), label)
        .unwrap();
    let s = m.open(&m.by_label(label).unwrap()).unwrap();
    s.login_so(&secret("so-13572468")).unwrap();
    s.init_user_pin(&secret(pin)).unwrap();
    s.logout().unwrap();
    s.login_user(&secret(pin)).unwrap();
    s
}

/// The (row, kind) of each finding of a refused `audit verify` (exit 1,
/// `ok` false, the findings named on stderr).
pub fn audit_findings(r: &Run) -> Vec<(i64, String)> {
    assert_eq!(r.code, 1, "tampering went unnoticed: {}", r.stdout);
    assert_eq!(r.json["ok"], false);
    assert!(r.stderr.contains("审计记录"), "{}", r.stderr);
    r.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["seq"].as_i64().unwrap(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Runs a tool we did not write; its stdout, or a failure naming it.
#[track_caller]
pub fn tool(name: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(name)
        .args(args)
        .output()
        .expect(name);
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
