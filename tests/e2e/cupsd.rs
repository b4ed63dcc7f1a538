//! A private CUPS scheduler for one test: its own configuration, spool and
//! socket in a temporary directory, one cups-pdf queue, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Cupsd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Child,
}

pub const QUEUE: &str = "kiosk-pdf";

impl Cupsd {
    /// Starts `cupsd -f` on a socket in a fresh directory and adds a
    /// cups-pdf queue. Needs root (the cups-pdf backend runs as root).
    pub fn start() -> Cupsd {
        let dir = tempfile::Builder::new()
            .prefix("kiosk-cups")
            .tempdir()
            .unwrap();
        let root = dir.path();
        // The scheduler's filters run as user lp and must reach the spool.
        chmod(root, 0o755);
        for sub in ["spool", "spool/tmp", "cache", "state", "log", "ppd"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let socket = root.join("cups.sock");
        std::fs::write(
            root.join("cupsd.conf"),
            format!(
                "Listen {}\nLogLevel info\nBrowsing No\nWebInterface No\nDefaultAuthType None\n\
                 MaxJobTime 60\nPreserveJobHistory Yes\nErrorPolicy abort-job\n\
                 <Location />\n  Order allow,deny\n  Allow all\n</Location>\n\
                 <Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n",
                socket.display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("cups-files.conf"),
            format!(
                "ServerRoot {r}\nRequestRoot {r}/spool\nTempDir {r}/spool/tmp\nCacheDir {r}/cache\n\
                 StateDir {r}/state\nErrorLog {r}/log/error_log\nAccessLog {r}/log/access_log\n\
                 PageLog {r}/log/page_log\nSystemGroup root\nUser lp\nGroup lp\n",
                r = root.display()
            ),
        )
        .unwrap();
        let child = Command::new("cupsd")
            .arg("-f")
            .arg("-c")
            .arg(root.join("cupsd.conf"))
            .arg("-s")
            .arg(root.join("cups-files.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cupsd (package cups, scripts/deps)");
        let c = Cupsd { dir, socket, child };
        let start = Instant::now();
        while !c.socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "cupsd did not start: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c.admin(&[
            "-p",
            QUEUE,
            "-E",
            "-v",
            "cups-pdf:/",
            "-P",
            "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd",
        ]);
        c
    }

    /// Runs a CUPS administration command against this scheduler.
    pub fn tool(&self, tool: &str, args: &[&str]) {
        let out = Command::new(tool)
            .args(["-h", &self.socket.display().to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn admin(&self, args: &[&str]) {
        self.tool("lpadmin", args);
    }

    pub fn server(&self) -> String {
        self.socket.display().to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/error_log")).unwrap_or_default()
    }
}

impl Drop for Cupsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// PDFs cups-pdf wrote for anonymous users (job owners with no account).
pub fn cups_pdf_outputs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["/var/spool/cups-pdf/ANONYMOUS", "/root/PDF"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            out.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    out
}
