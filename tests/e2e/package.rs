//! The Debian packages installed into a clean Debian 12 root made by
//! debootstrap: the service users and their directories, the units enabled
//! and checked by `systemd-analyze verify`, the station running as its
//! user, an upgrade over a database of the previous schema that backs it up
//! as it is first and migrates it, a downgrade refused, and the
//! app alone in cage (headless wlroots) showing its first screen, captured
//! with grim. Needs root (debootstrap, chroot, mounts) and Debian's mirror.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[track_caller]
fn must(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The packages at `version`, built from the tests' debug binaries.
fn packages(version: &str, into: &Path) -> (PathBuf, PathBuf) {
    let ws = workspace();
    must(
        Command::new(ws.join("scripts/package"))
            .arg("--debug")
            .current_dir(&ws)
            .env("KIOSK_PACKAGE_VERSION", version),
    );
    let arch = must(Command::new("dpkg").arg("--print-architecture"));
    let arch = arch.trim();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"));
    let mut out = Vec::new();
    for name in ["kiosk-station", "central"] {
        let file = format!("{name}_{version}_{arch}.deb");
        std::fs::copy(target.join("package").join(&file), into.join(&file)).unwrap();
        out.push(into.join(file));
    }
    (out[0].clone(), out[1].clone())
}

/// A Debian 12 root, with what it mounts undone when dropped.
struct Root {
    path: PathBuf,
    mounts: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root");
        must(Command::new("debootstrap").args([
            "--variant=minbase",
            "bookworm",
            path.to_str().unwrap(),
            "http://deb.debian.org/debian",
        ]));
        // The host's view of the mirror, as its apt has it.
        std::fs::copy("/etc/hosts", path.join("etc/hosts")).unwrap();
        for conf in std::fs::read_dir("/etc/apt/apt.conf.d").unwrap() {
            let conf = conf.unwrap().path();
            if conf
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("99"))
            {
                std::fs::copy(
                    &conf,
                    path.join("etc/apt/apt.conf.d")
                        .join(conf.file_name().unwrap()),
                )
                .unwrap();
            }
        }
        Root {
            path,
            mounts: Vec::new(),
            _dir: dir,
        }
    }

    fn chroot(&self, args: &[&str]) -> Command {
        let mut c = Command::new("chroot");
        c.arg(&self.path)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C.UTF-8");
        c
    }

    fn run(&self, args: &[&str]) -> String {
        must(&mut self.chroot(args))
    }

    fn put(&self, file: &Path) -> String {
        let inside = format!("/tmp/{}", file.file_name().unwrap().to_string_lossy());
        std::fs::copy(file, self.path.join(&inside[1..])).unwrap();
        inside
    }

    fn mount(&mut self, args: &[&str], at: &str) {
        let target = self.path.join(at);
        std::fs::create_dir_all(&target).unwrap();
        must(Command::new("mount").args(args).arg(&target));
        self.mounts.push(target);
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

#[test]
fn the_packages_install_on_a_clean_debian_12_and_the_app_starts_alone_in_cage() {
    // The tests' debug build, which the packages carry.
    kiosk_e2e::kioskctl();
    let debs = tempfile::tempdir().unwrap();
    let (station, central) = packages("0.1.0", debs.path());
    let (station_next, _) = packages("0.1.1", debs.path());
    let mut root = Root::new();

    root.run(&["apt-get", "update", "-qq"]);
    let (s, c) = (root.put(&station), root.put(&central));
    let mut install = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    // The station's token module for the demo, and grim for the screenshot.
    install.extend([s.as_str(), c.as_str(), "softhsm2", "grim"]);
    root.run(&install);

    // Service users, and directories no one else can read.
    assert!(root.run(&["id", "kiosk"]).contains("(kiosk)"));
    assert!(root.run(&["id", "central"]).contains("(central)"));
    let modes = root.run(&[
        "stat",
        "-c",
        "%n %a %U:%G",
        "/var/lib/kiosk-station",
        "/var/backups/kiosk-station",
        "/etc/kiosk-station",
        "/var/lib/central",
        "/etc/central",
    ]);
    for want in [
        "/var/lib/kiosk-station 750 kiosk:kiosk",
        "/var/backups/kiosk-station 700 kiosk:kiosk",
        "/etc/kiosk-station 750 root:kiosk",
        "/var/lib/central 750 central:central",
        "/etc/central 750 root:central",
    ] {
        assert!(modes.contains(want), "{want} in\n{modes}");
    }
    // Every unit enabled, and each one passes systemd's own check.
    for link in [
        "etc/systemd/system/timers.target.wants/kiosk-sync.timer",
        "etc/systemd/system/timers.target.wants/kiosk-crl.timer",
        "etc/systemd/system/timers.target.wants/kiosk-audit-seal.timer",
        "etc/systemd/system/timers.target.wants/kiosk-backup.timer",
        "etc/systemd/system/timers.target.wants/kiosk-purge.timer",
        "etc/systemd/system/graphical.target.wants/kiosk-app.service",
        "etc/systemd/system/multi-user.target.wants/central.service",
    ] {
        assert!(
            root.path.join(link).symlink_metadata().is_ok(),
            "{link} not enabled"
        );
    }
    let units: Vec<String> = std::fs::read_dir(root.path.join("lib/systemd/system"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kiosk-") || n == "central.service")
        .map(|n| format!("/lib/systemd/system/{n}"))
        .collect();
    assert_eq!(units.len(), 12, "{units:?}");
    let mut verify = vec!["systemd-analyze", "verify"];
    verify.extend(units.iter().map(String::as_str));
    let out = root.chroot(&verify).output().expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    // The station runs as its user in its directory.
    let audit_verifies = || {
        let v = root.run(&[
            "runuser",
            "-u",
            "kiosk",
            "--",
            "kioskctl",
            "--json",
            "--data-dir",
            "/var/lib/kiosk-station",
            "audit",
            "verify",
        ]);
        assert!(v.contains("\"ok\":true"), "{v}");
    };
    audit_verifies();
    let db = root.run(&["stat", "-c", "%U %a", "/var/lib/kiosk-station/station.db"]);
    assert!(db.starts_with("kiosk "), "{db}");

    // An upgrade backs the station up first (with the old program), then
    // installs; going back is refused with the way back named.
    let key = debs.path().join("operator.key");
    let keygen = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    let public = String::from_utf8_lossy(&keygen.stderr)
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .unwrap()
        .to_string();
    std::fs::write(
        root.path.join("etc/kiosk-station/backup-recipients.txt"),
        format!("{public}\n"),
    )
    .unwrap();
    // The station as the previous release left it: a database of schema
    // 16 (tests/fixtures/schema-16).
    let live = root.path.join("var/lib/kiosk-station");
    for f in ["station.db-wal", "station.db-shm"] {
        let _ = std::fs::remove_file(live.join(f));
    }
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/schema-16/station.db"),
        live.join("station.db"),
    )
    .unwrap();
    root.run(&["chown", "kiosk:kiosk", "/var/lib/kiosk-station/station.db"]);
    let next = root.put(&station_next);
    root.run(&["dpkg", "-i", &next]);
    let backups = root.run(&["ls", "/var/backups/kiosk-station"]);
    assert!(
        backups.contains(".tar.age"),
        "no backup before the upgrade: {backups}"
    );
    // The backup holds the database as it was, of schema 16; the new
    // program's first run migrates it and the trail verifies.
    let taken = backups
        .split_whitespace()
        .find(|f| f.ends_with(".tar.age"))
        .unwrap();
    let opened = debs.path().join("opened");
    std::fs::create_dir_all(&opened).unwrap();
    crate::backup::sh(&format!(
        "age -d -i {} {}/var/backups/kiosk-station/{taken} | tar -x -C {} station.db",
        key.display(),
        root.path.display(),
        opened.display()
    ));
    let schema = |db: &std::path::Path| {
        let out = Command::new("sqlite3")
            .arg(db)
            .arg("PRAGMA user_version")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(schema(&opened.join("station.db")), "16");
    audit_verifies();
    assert_eq!(
        schema(&live.join("station.db")),
        kiosk_store::SCHEMA_VERSION.to_string()
    );
    let back = root.chroot(&["dpkg", "-i", &s]).output().unwrap();
    assert!(!back.status.success(), "a downgrade went through");
    let said = String::from_utf8_lossy(&back.stderr);
    assert!(
        said.contains("降级") && said.contains("backup restore"),
        "{said}"
    );
    let version = root.run(&["dpkg-query", "-W", "-f=${Version}", "kiosk-station"]);
    assert_eq!(version, "0.1.1");

    // The kiosk session: the app alone in cage, as the service user, on
    // wlroots' headless backend with its software renderer.
    root.mount(&["-t", "proc", "proc"], "proc");
    root.mount(&["--bind", "/dev"], "dev");
    root.mount(&["-t", "tmpfs", "-o", "mode=1777", "tmpfs"], "dev/shm");
    root.mount(&["--bind", "/sys"], "sys");
    root.mount(&["-t", "tmpfs", "tmpfs"], "run");
    root.run(&[
        "install",
        "-d",
        "-m",
        "0700",
        "-o",
        "kiosk",
        "-g",
        "kiosk",
        "/run/kiosk",
    ]);
    let session = [
        "runuser",
        "-u",
        "kiosk",
        "--",
        "env",
        "XDG_RUNTIME_DIR=/run/kiosk",
        "WLR_BACKENDS=headless",
        "WLR_RENDERER=pixman",
        "WLR_LIBINPUT_NO_DEVICES=1",
        "KIOSK_DEMO=1",
        "KIOSK_DATA_DIR=/tmp/demo",
    ];
    let mut cage_args = session.to_vec();
    cage_args.extend(["cage", "-d", "--", "kiosk-station"]);
    let mut cage = root
        .chroot(&cage_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cage");
    let mut grim_args = session.to_vec();
    grim_args.extend(["WAYLAND_DISPLAY=wayland-0", "grim", "/tmp/first-screen.png"]);
    let shot = root.path.join("tmp/first-screen.png");
    let start = Instant::now();
    // The first screen is drawn once the provider tiles are: a PNG of a
    // blank window is a few KB, the tiles' text makes it tens of KB.
    let drawn = loop {
        let _ = root.chroot(&grim_args).output();
        if std::fs::metadata(&shot).is_ok_and(|m| m.len() > 30_000) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(90) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = Command::new("pkill")
        .args(["-TERM", "-f", "cage -d -- kiosk-station"])
        .status();
    let _ = cage.wait();
    assert!(drawn, "the app's first screen was not drawn in cage");
    let screens = workspace().join("target/artifacts/screens/cage-headless");
    std::fs::create_dir_all(&screens).unwrap();
    std::fs::copy(&shot, screens.join("applicant-1-providers.png")).unwrap();
    let img = image::open(&shot).expect("a PNG").to_rgb8();
    // The header bar in the station's colour, top left.
    let p = img.get_pixel(5, 5);
    assert!(p[2] > p[0] + 40, "header pixel {p:?}");
}
