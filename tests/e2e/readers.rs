//! Key insert and remove events through a real pcscd with the vsmartcard
//! virtual reader (vpcd) and a virtual card (vicc), started by the test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{ctl, run};

/// pcscd in the foreground, stopped with SIGTERM on drop.
struct Pcscd(Option<Child>);

impl Pcscd {
    fn start() -> Pcscd {
        let running = Command::new("pgrep")
            .arg("-x")
            .arg("pcscd")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if running {
            return Pcscd(None);
        }
        let child = Command::new("pcscd")
            .args(["--foreground"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pcscd (apt install pcscd vsmartcard-vpcd)");
        std::thread::sleep(Duration::from_millis(1500));
        Pcscd(Some(child))
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

/// The virtual card: inserted while it runs, removed when it stops.
fn vicc(shim: &std::path::Path) -> Child {
    // Debian's vicc imports `Crypto`; PyCryptodome is installed as `Cryptodome`.
    let pkg = shim.join("Crypto");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("__init__.py"),
        "import importlib, sys\nfor n in ('Cipher','Hash','Random','Util','PublicKey','Signature','Protocol'):\n    try:\n        sys.modules['Crypto.' + n] = importlib.import_module('Cryptodome.' + n)\n    except ImportError:\n        pass\n",
    )
    .unwrap();
    Command::new("/usr/bin/vicc")
        .args([
            "-t",
            "iso7816",
            "--hostname",
            "localhost",
            "--port",
            "35963",
        ])
        .env(
            "PYTHONPATH",
            format!(
                "/usr/lib/python3/site-packages/virtualsmartcard:{}",
                shim.display()
            ),
        )
        .current_dir(shim)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vicc (apt install vsmartcard-vpicc python3-virtualsmartcard)")
}

#[test]
fn insert_and_remove_events_with_the_key_model() {
    let _pcscd = Pcscd::start();
    let d = tempfile::tempdir().unwrap();
    let mut watch = Command::new(kiosk_e2e::kioskctl());
    watch.args(["--json", "--data-dir"]).arg(d.path()).args([
        "key",
        "watch",
        "--events",
        "2",
        "--timeout-secs",
        "30",
    ]);
    let watcher = std::thread::spawn(move || run(watch));
    std::thread::sleep(Duration::from_millis(1500));

    let mut card = vicc(d.path());
    std::thread::sleep(Duration::from_millis(2500));
    let listed = ctl(d.path(), &["key", "list"]).ok();
    let readers = listed["readers"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        readers
            .iter()
            .any(|r| r["card_present"] == true && r["atr"].as_str().unwrap().starts_with("3b95")),
        "{listed}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &card.id().to_string()])
        .status();
    let _ = card.wait();

    let events = watcher.join().unwrap().ok();
    let e = events["events"].as_array().unwrap();
    assert_eq!(e.len(), 2, "{events}");
    assert_eq!(e[0]["event"], "inserted");
    assert_eq!(e[0]["model"], "虚拟智能卡（vsmartcard，测试用）");
    assert_eq!(e[1]["event"], "removed");
    assert_eq!(e[0]["reader"], e[1]["reader"]);
}
