//! The kiosk app's figures, on a release build under Xvfb + openbox:
//!
//! - cold start: from spawning the app on an initialised demo station to
//!   the page reporting its first screen drawn (`ui_ready`); the very first
//!   start, which also sets up the demo station, is shown apart;
//! - IPC: p50/p99 round trip of the common commands, timed in the page
//!   (`performance.now()` around `invoke`), beside the cheapest core IPC
//!   call (`plugin:event|unlisten` of no listener) in the same window;
//! - memory: PSS of the app and its WebKit processes after the full
//!   walk-through, beside a bare Tauri window (`examples/bare-window.rs`)
//!   with the same window settings, both under WebKitWebDriver; the bare
//!   window twice, with WebKit's defaults and with compositing off as the
//!   app runs (`flat_rendering` in the app's crate).
//!
//! `cargo bench -p kiosk-e2e --bench app` (needs what the app test needs).

#[path = "../e2e/cupsd.rs"]
mod cupsd;
#[path = "../app/driver.rs"]
mod driver;
#[path = "../app/walk.rs"]
mod walk;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use driver::Desktop;
use serde_json::{json, Value};

const COLD_RUNS: usize = 7;
const IPC_CALLS: usize = 300;
const IDLE_SECS: u64 = 60;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` lists benchmarks; nothing to check here.
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    println!("\n== kiosk app figures (release) ==");
    let cold = cold_start();
    println!(
        "cold start to first screen: median {:.0} ms, max {:.0} ms over {COLD_RUNS} starts (goal ≤ 1500 ms); first start with demo set-up {:.0} ms",
        cold.median, cold.max, cold.first
    );
    let ipc = rt.block_on(ipc_round_trips());
    println!("IPC round trip, {IPC_CALLS} calls each (ms):");
    println!("  {:<24} {:>7} {:>7} {:>7}", "command", "p50", "p99", "max");
    for (name, t) in &ipc {
        println!(
            "  {:<24} {:>7.2} {:>7.2} {:>7.2}",
            name,
            pct(t, 0.50),
            pct(t, 0.99),
            pct(t, 1.0)
        );
    }
    let worst = ipc
        .iter()
        .filter(|(n, _)| !n.starts_with("baseline"))
        .map(|(n, t)| (n.clone(), pct(t, 0.99)))
        .fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a });
    println!("  worst p99: {} {:.2} ms (goal ≤ 20 ms)", worst.0, worst.1);
    println!("PSS (app and its WebKit processes):");
    let m = rt.block_on(memory());
    let mib = |k: u64| k as f64 / 1024.0;
    let ratio = |k: u64| m.app as f64 / k as f64;
    println!(
        "PSS after the walk-through: app {:.1} MiB ({IDLE_SECS} s later {:.1} MiB)",
        mib(m.app),
        mib(m.app_idle)
    );
    println!(
        "  vs bare Tauri window, WebKit defaults: {:.1} MiB, ratio {:.2} (goal ≤ 1.2); after the same {} WebDriver lookups {:.1} MiB, ratio {:.2}",
        mib(m.bare.0),
        ratio(m.bare.0),
        m.lookups,
        mib(m.bare.1),
        ratio(m.bare.1)
    );
    println!(
        "  vs bare Tauri window, compositing off as in the app: {:.1} MiB, ratio {:.2}; after the same lookups {:.1} MiB, ratio {:.2}",
        mib(m.bare_flat.0),
        ratio(m.bare_flat.0),
        mib(m.bare_flat.1),
        ratio(m.bare_flat.1)
    );
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Cold {
    first: f64,
    median: f64,
    max: f64,
}

/// One start: spawn → "first screen shown" on stderr, in ms; then SIGTERM.
fn start_once(display: &str, data: &Path) -> f64 {
    let t0 = Instant::now();
    let mut child = Command::new(driver::app_binary_path())
        .env("DISPLAY", display)
        .env("KIOSK_DATA_DIR", data)
        .env("KIOSK_DEMO", "1")
        .env_remove("KIOSK_PRINTER")
        .env_remove("KIOSK_CENTRAL_URL")
        .env_remove("SOFTHSM2_CONF")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiosk-station");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("first screen shown") {
                let _ = tx.send(t0.elapsed());
            }
        }
    });
    let took = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the app reports its first screen");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    took.as_secs_f64() * 1000.0
}

fn cold_start() -> Cold {
    // Desktop::start builds the app, before any clock starts.
    let desk = Desktop::start(1920, 1080, Path::new("/nonexistent"), "", &[]);
    let data = tempfile::tempdir().expect("data dir");
    let first = start_once(desk.display(), data.path());
    let mut runs: Vec<f64> = (0..COLD_RUNS)
        .map(|_| start_once(desk.display(), data.path()))
        .collect();
    runs.sort_by(f64::total_cmp);
    Cold {
        first,
        median: pct(&runs, 0.5),
        max: pct(&runs, 1.0),
    }
}

/// Runs the common commands in the page; returns sorted times per command.
async fn ipc_round_trips() -> Vec<(String, Vec<f64>)> {
    let data = tempfile::tempdir().expect("data dir");
    let desk = Desktop::start(1920, 1080, data.path(), "", &[]);
    let ui = desk.session("bench").await;
    ui.wait("[data-provider=ezca]").await;
    ui.client()
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(300)),
            None,
            None,
        ))
        .await
        .expect("script timeout");
    let application: Value =
        serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).expect("demo application");
    let script = r#"
        const [n, application, done] = arguments;
        const invoke = window.__TAURI_INTERNALS__.invoke;
        (async () => {
          const ticket = await invoke('submit_application', { args: { application } });
          const { token } = await invoke('login', { args: { clerk_id: 'clerk', secret: 'clerk-2468' } });
          const plan = [
            ['baseline: core no-op', 'plugin:event|unlisten', { event: 'bench', eventId: 4294967295 }],
            // The app's commands take their arguments as `{ args }`.
            ['kiosk_config', 'kiosk_config', {}],
            ['providers', 'providers', {}],
            ['checklist', 'checklist', { args: { provider: 'ezca', operation: 'new' } }],
            ['fee', 'fee', { args: { provider: 'ezca', operation: 'new' } }],
            ['check_field (uscc)', 'check_field', { args: { kind: 'uscc', value: '91500000MA5U8K2T0A' } }],
            ['check_field (id)', 'check_field', { args: { kind: 'id', value: '500101198502030055' } }],
            ['queue', 'queue', { args: { token } }],
            ['open_order', 'open_order', { args: { token, code: ticket.order_number } }],
            ['sync_status', 'sync_status', { args: { token } }],
          ];
          const out = [];
          for (const [name, cmd, args] of plan) {
            for (let i = 0; i < 20; i++) await invoke(cmd, args);
            const t = [];
            for (let i = 0; i < n; i++) {
              const s = performance.now();
              await invoke(cmd, args);
              t.push(performance.now() - s);
            }
            out.push([name, t]);
          }
          done(out);
        })().catch((e) => done({ error: JSON.stringify(e) }));
    "#;
    let out = ui
        .client()
        .execute_async(script, vec![json!(IPC_CALLS), application])
        .await
        .expect("IPC script");
    if let Some(e) = out.get("error") {
        panic!("IPC script failed: {e}");
    }
    let mut res = Vec::new();
    for row in out.as_array().expect("rows") {
        let name = row[0].as_str().expect("name").to_string();
        let mut t: Vec<f64> = row[1]
            .as_array()
            .expect("times")
            .iter()
            .map(|v| v.as_f64().expect("ms"))
            .collect();
        t.sort_by(f64::total_cmp);
        res.push((name, t));
    }
    ui.close().await;
    drop(desk);
    res
}

/// PSS in KiB of the process tree under `root` whose top is a process
/// running `exe` (the app and its WebKit children).
fn pss_of_app_under(root: u32, exe: &Path) -> u64 {
    let procs: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split(' ').nth(1)?.parse().ok()?;
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Some((pid, ppid, exe))
        })
        .collect();
    let under = |top: u32| {
        let mut set = vec![top];
        let mut i = 0;
        while i < set.len() {
            let p = set[i];
            set.extend(procs.iter().filter(|c| c.1 == p).map(|c| c.0));
            i += 1;
        }
        set
    };
    let exe = exe.canonicalize().expect("exe").display().to_string();
    let app = under(root)
        .into_iter()
        .find(|p| procs.iter().any(|c| c.0 == *p && c.2 == exe))
        .unwrap_or_else(|| panic!("no {exe} under pid {root}"));
    under(app)
        .iter()
        .map(|p| {
            let kib = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Pss:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                })
                .unwrap_or(0);
            let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            println!("    {:<18} {:>8.1} MiB", name.trim(), kib as f64 / 1024.0);
            kib
        })
        .sum()
}

/// PSS in KiB: the app after the walk-through and again after standing
/// idle; the bare window (as it opens, after as many lookups) with
/// WebKit's defaults and with compositing off as the app runs it.
struct Memory {
    app: u64,
    app_idle: u64,
    bare: (u64, u64),
    bare_flat: (u64, u64),
    lookups: usize,
}

async fn memory() -> Memory {
    let bare = driver::example_binary("bare-window");
    let app = driver::app_binary_path();
    let mut app_kib = 0;
    let mut app_idle_kib = 0;
    driver::no_screenshots();
    println!("  app after the walk-through (no screenshots taken):");
    walk::walk_through(|desk| {
        // Let the last screen settle, as a clerk would look at it.
        std::thread::sleep(Duration::from_secs(2));
        app_kib = pss_of_app_under(desk.driver_pid(), &app);
        // And once more after the counter has stood idle for a while.
        std::thread::sleep(Duration::from_secs(IDLE_SECS));
        println!("  the same, {IDLE_SECS} s later:");
        app_idle_kib = pss_of_app_under(desk.driver_pid(), &app);
    })
    .await;
    let lookups = driver::lookups();
    println!("  bare window, WebKit defaults:");
    let bare_default = bare_pss(&bare, lookups, &[]).await;
    println!("  bare window, compositing off:");
    let bare_flat = bare_pss(&bare, lookups, &[("WEBKIT_DISABLE_COMPOSITING_MODE", "1")]).await;
    Memory {
        app: app_kib,
        app_idle: app_idle_kib,
        bare: bare_default,
        bare_flat,
        lookups,
    }
}

/// PSS of the bare window at 1280×800, as the app's is measured: as it
/// opens, and after as many element lookups as the walk-through sent.
async fn bare_pss(bare: &Path, lookups: usize, env: &[(&str, &str)]) -> (u64, u64) {
    let data = tempfile::tempdir().expect("data dir");
    let desk = Desktop::start(1280, 800, data.path(), "", env);
    let ui = desk.session_of("bare", bare).await;
    ui.wait("h1").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("  bare window:");
    let kib = pss_of_app_under(desk.driver_pid(), bare);
    for _ in 0..lookups {
        ui.count("h1").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("  bare window after {lookups} element lookups:");
    let loaded = pss_of_app_under(desk.driver_pid(), bare);
    ui.close().await;
    drop(desk);
    (kib, loaded)
}
