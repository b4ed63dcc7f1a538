//! Xvfb + openbox + tauri-driver for one app session, and a small layer
//! over fantoccini that waits for what the page shows.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// The app binary of this build profile, built when missing.
pub fn app_binary() -> PathBuf {
    station_binary(None)
}

/// An example of the app's crate (`bare-window`), built when missing.
#[allow(dead_code)] // the benchmark's
pub fn example_binary(name: &str) -> PathBuf {
    station_binary(Some(name))
}

/// Where this build profile puts the app (built by [`app_binary`]).
#[allow(dead_code)] // the benchmark's
pub fn app_binary_path() -> PathBuf {
    profile_dir().join("kiosk-station")
}

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("profile dir")
        .to_path_buf()
}

fn station_binary(example: Option<&str>) -> PathBuf {
    let profile = profile_dir();
    if profile.file_name().is_some_and(|n| n == "release") {
        let mut args = vec!["--release", "-p", "kiosk-station"];
        if let Some(name) = example {
            args.extend(["--example", name]);
        }
        kiosk_e2e::cargo_build(&args);
    } else {
        kiosk_e2e::cargo_build(kiosk_e2e::WORKSPACE_BUILD);
    }
    match example {
        Some(name) => profile.join("examples").join(name),
        None => profile.join("kiosk-station"),
    }
}

fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let target = exe.ancestors().nth(3).expect("target dir");
    target.join("artifacts/screens")
}

fn spawn(cmd: &mut Command, what: &str) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e} (scripts/deps installs it)"))
}

/// SIGTERM, so that tauri-driver stops WebKitWebDriver and the app too.
fn term(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub struct Desktop {
    xvfb: Child,
    wm: Child,
    driver: Child,
    port: u16,
    app: PathBuf,
    display: String,
}

impl Desktop {
    /// A virtual screen of `w`×`h`, a window manager so the app's window
    /// goes fullscreen, and tauri-driver with the app's environment: the
    /// demo station on `data`, printing through `cups`, and `env` on top
    /// (`KIOSK_TODAY`, `KIOSK_IDLE_SECONDS`; unset unless given there).
    pub fn start(w: u32, h: u32, data: &Path, cups: &str, env: &[(&str, &str)]) -> Desktop {
        let app = app_binary();
        let display_no = 90 + (w % 7);
        let display = format!(":{display_no}");
        let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{display_no}"));
        let _ = std::fs::remove_file(format!("/tmp/.X{display_no}-lock"));
        let xvfb = spawn(
            Command::new("Xvfb").arg(&display).args([
                "-screen",
                "0",
                &format!("{w}x{h}x24"),
                "-nolisten",
                "tcp",
            ]),
            "Xvfb",
        );
        let sock = PathBuf::from(format!("/tmp/.X11-unix/X{display_no}"));
        wait_until(|| sock.exists(), "Xvfb socket");
        let wm = spawn(Command::new("openbox").env("DISPLAY", &display), "openbox");
        std::thread::sleep(Duration::from_millis(300));
        let port = 4400 + (w % 97) as u16;
        let mut cmd = Command::new("tauri-driver");
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &(port + 1).to_string(),
        ])
        .env("DISPLAY", &display)
        .env("KIOSK_DATA_DIR", data)
        .env("KIOSK_DEMO", "1")
        .env("KIOSK_PRINTER", crate::cupsd::QUEUE)
        .env("CUPS_SERVER", cups)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("KIOSK_TODAY")
        .env_remove("KIOSK_IDLE_SECONDS")
        .envs(env.iter().copied());
        let driver = spawn(&mut cmd, "tauri-driver (cargo install tauri-driver)");
        wait_until(
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "tauri-driver port",
        );
        Desktop {
            xvfb,
            wm,
            driver,
            port,
            app,
            display,
        }
    }

    /// The X display, for a process started beside the driver.
    #[allow(dead_code)] // the benchmark's
    pub fn display(&self) -> &str {
        &self.display
    }

    /// tauri-driver's pid: the app runs below it.
    #[allow(dead_code)] // the benchmark's
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    pub async fn session(&self, size: &str) -> Ui {
        self.session_of(size, &self.app).await
    }

    /// A session on another application binary (the bare window).
    pub async fn session_of(&self, size: &str, app: &Path) -> Ui {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app }),
        );
        caps.insert("browserName".into(), "wry".into());
        // The first session after a build can miss WebKitWebDriver's start.
        let url = format!("http://127.0.0.1:{}", self.port);
        let mut tries = 0;
        let client = loop {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if tries < 2 => {
                    tries += 1;
                    eprintln!("WebDriver session refused ({e}); trying again");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => panic!("WebDriver session (tauri-driver + WebKitWebDriver): {e}"),
            }
        };
        let dir = artifacts().join(size);
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        Ui {
            client,
            dir,
            display: self.display.clone(),
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        term(&mut self.driver);
        term(&mut self.wm);
        term(&mut self.xvfb);
    }
}

fn wait_until(mut f: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

static NO_SHOTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LOOKUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Element lookups sent so far: the benchmark sends as many to the bare
/// window, so that both web processes carry the same automation load.
#[allow(dead_code)] // the benchmark's
pub fn lookups() -> usize {
    LOOKUPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The memory benchmark measures the app as the counter uses it: without
/// the screenshots' snapshot buffers in the web process.
#[allow(dead_code)] // the benchmark's
pub fn no_screenshots() {
    NO_SHOTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub struct Ui {
    client: Client,
    dir: PathBuf,
    display: String,
}

impl Ui {
    async fn wait_for(&self, css: &str, secs: u64) -> fantoccini::elements::Element {
        let start = Instant::now();
        loop {
            LOOKUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                let body = self.client.find(Locator::Css("body")).await.ok();
                let text = match body {
                    Some(b) => b.text().await.unwrap_or_default(),
                    None => String::new(),
                };
                self.shot("failure").await;
                panic!("timed out waiting for {css}; page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait(&self, css: &str) {
        self.wait_for(css, 30).await;
    }

    /// Key work and printing follow real devices: allow two minutes.
    pub async fn wait_long(&self, css: &str) {
        self.wait_for(css, 120).await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.wait_for(css, 30).await;
        e.click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// Types into the field named `name`, replacing what was there, then
    /// closes the on-screen keypad if the field opened it.
    pub async fn fill(&self, name: &str, value: &str) {
        let e = self.wait_for(&format!("[name='{name}']"), 30).await;
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
        for done in [
            ".keypad [data-key=done]",
            ".text-keyboard [data-skbtn='{done}']",
        ] {
            if let Ok(done) = self.client.find(Locator::Css(done)).await {
                done.click().await.expect("close the on-screen keys");
            }
        }
    }

    /// The 1-based position of the element among `css` whose text is
    /// `text`, if any.
    pub async fn position_of(&self, css: &str, text: &str) -> Option<usize> {
        let items = self.client.find_all(Locator::Css(css)).await.ok()?;
        for (i, e) in items.iter().enumerate() {
            if e.text().await.ok()?.trim() == text {
                return Some(i + 1);
            }
        }
        None
    }

    /// Chooses `file` in the file input `css` (hidden inputs included).
    pub async fn upload(&self, css: &str, file: &Path) {
        let e = self.wait_for(css, 30).await;
        e.send_keys(&file.display().to_string())
            .await
            .unwrap_or_else(|err| panic!("choose {} in {css}: {err}", file.display()));
    }

    pub async fn value(&self, name: &str) -> String {
        let e = self.wait_for(&format!("[name='{name}']"), 30).await;
        e.prop("value").await.expect("value").unwrap_or_default()
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css, 30).await.text().await.expect("text")
    }

    pub async fn count(&self, css: &str) -> usize {
        LOOKUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |v| v.len())
    }

    pub async fn wait_count(&self, css: &str, n: usize) {
        let start = Instant::now();
        while self.count(css).await < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{css} never reached {n}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot of the X screen, as the applicant sees it,
    /// unless [`no_screenshots`] was called. Taken from the display, not
    /// through WebDriver: WebKit's own snapshot shows a stale page when
    /// compositing is off, as the app runs it.
    pub async fn shot(&self, name: &str) {
        if NO_SHOTS.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // Let transitions and fonts settle.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let file = self.dir.join(format!("{name}.png"));
        let status = Command::new("sh")
            .args([
                "-c",
                r#"xwd -root -display "$1" | xwdtopnm 2>/dev/null | pnmtopng > "$2""#,
                "shot",
                &self.display,
            ])
            .arg(&file)
            .status()
            .expect("xwd, xwdtopnm, pnmtopng (scripts/deps installs them)");
        assert!(status.success(), "screenshot {name}");
    }

    /// Calls a command from the page itself, as any script in it could;
    /// returns `accepted`, or the error code (or message) it was refused with.
    pub async fn invoke_from_page(&self, cmd: &str, args: serde_json::Value) -> String {
        let script = r#"
            const [cmd, args, done] = arguments;
            window.__TAURI_INTERNALS__.invoke(cmd, args).then(
              () => done('accepted'),
              (e) => done(e && e.code ? e.code : String(e)));
        "#;
        let out = self
            .client
            .execute_async(script, vec![cmd.into(), args])
            .await
            .unwrap_or_else(|e| panic!("invoke {cmd} from the page: {e}"));
        out.as_str().unwrap_or_default().to_string()
    }

    /// Where the page is.
    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    /// Runs a script in the page.
    pub async fn run_script(&self, script: &str) {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script: {e}"));
    }

    #[allow(dead_code)] // the benchmark's
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
