//! The kiosk app's IPC layer and window, as a library so that tests and
//! the measurement binaries reach the same commands the window calls.

pub mod args;
pub mod commands;
pub mod ipc;
mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use kiosk_app::{Clock, KeyConfig, KeyEvent, Rules, SystemClock};
use tauri::{Emitter, Manager};

use crate::commands::Desk;
use crate::ipc::KeyEventDto;

/// Settings from the environment: the station's, as kioskctl reads them,
/// and the kiosk's own.
fn desk() -> Result<Desk, kiosk_app::AppError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let data_dir = kiosk_app::data_dir(None);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let today = var("KIOSK_TODAY").and_then(|d| d.parse().ok());
    // KIOSK_DEMO=1: SoftHSM2 keys, a demo station CA, blank keys in stock
    // and the demo accounts, all under the data directory.
    let keys = if var("KIOSK_DEMO").is_some_and(|v| v != "0") {
        kiosk_app::demo::prepare(&data_dir, clock.clone(), 3)?.key_config
    } else {
        KeyConfig::from_env()?
    };
    let idle = var("KIOSK_IDLE_SECONDS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(90);
    Desk::new(data_dir, clock, today, keys, var("KIOSK_PRINTER"), idle)
}

/// Sends key insert/remove events from the PC/SC readers to the page. A
/// station without a reader service sends none and tries again later.
fn watch_readers(app: tauri::AppHandle, desk_today: chrono::NaiveDate) {
    std::thread::spawn(move || loop {
        let Ok(rules) = Rules::embedded(desk_today) else {
            return;
        };
        match rules.watch_keys(1, Duration::from_secs(5)) {
            Ok(events) => {
                for e in events {
                    let (kind, reader) = match e {
                        KeyEvent::Inserted { reader, .. } => ("inserted", reader),
                        KeyEvent::Removed { reader } => ("removed", reader),
                    };
                    let _ = app.emit(
                        "key-event",
                        KeyEventDto {
                            kind: kind.into(),
                            reader,
                            at: chrono::Utc::now().to_rfc3339(),
                        },
                    );
                }
            }
            Err(_) => std::thread::sleep(Duration::from_secs(10)),
        }
    });
}

/// While the app is up and sync is set up (`KIOSK_CENTRAL_URL`), runs
/// `kioskctl sync` every `KIOSK_SYNC_INTERVAL_SECS` (default 900). A child
/// process keeps its own PKCS#11 session, so a sync never collides with a
/// key being written at the counter. Each outcome, offline included, is
/// recorded by the station and shown in the console as the last sync.
fn sync_in_background() {
    if std::env::var("KIOSK_CENTRAL_URL").map_or(true, |v| v.trim().is_empty()) {
        return;
    }
    let every = std::env::var("KIOSK_SYNC_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&s: &u64| s >= 30)
        .unwrap_or(900);
    kioskctl_every(&["--json", "sync"], Duration::from_secs(every));
}

/// While the app is up, re-signs the station's CRL when one is due
/// (`kioskctl crl --if-due`, hourly): before its nextUpdate, and after a
/// revocation whose CRL could not be signed at once. Offline or not.
fn crl_in_background() {
    kioskctl_every(&["--json", "crl", "--if-due"], Duration::from_secs(3600));
}

/// Runs `kioskctl ARGS` as a child process now and then every `interval`.
/// Its outcome is recorded by the station itself.
fn kioskctl_every(args: &'static [&'static str], interval: Duration) {
    let ctl = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("kioskctl")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "kioskctl".into());
    std::thread::spawn(move || loop {
        let _ = std::process::Command::new(&ctl)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        std::thread::sleep(interval);
    });
}

/// Only the app's own pages: no remote URL, whatever a page tries.
fn local(url: &tauri::Url) -> bool {
    matches!(url.scheme(), "tauri" | "asset")
        || (url.scheme() == "http" && url.host_str() == Some("tauri.localhost"))
}

/// WebKitGTK composites the page on the GPU (in software GL where there
/// is none) unless told not to. The counter's screens are flat forms with
/// no animation, and compositing costs the web process some 80 MiB, so it
/// is off unless `KIOSK_GPU_COMPOSITING=1`. Called before any thread
/// starts, since it sets a variable of the process.
fn flat_rendering() {
    const WEBKIT: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    let gpu = std::env::var_os("KIOSK_GPU_COMPOSITING").is_some_and(|v| v == "1");
    if !gpu && std::env::var_os(WEBKIT).is_none() {
        std::env::set_var(WEBKIT, "1");
    }
}

/// Starts the window; `main` only calls this.
pub fn run() {
    commands::started();
    flat_rendering();
    tauri::Builder::default()
        .plugin(
            tauri::plugin::Builder::<tauri::Wry>::new("kiosk-navigation")
                .on_navigation(|_, url| local(url))
                .build(),
        )
        .setup(|app| {
            let desk = desk()?;
            watch_readers(app.handle().clone(), SystemClock.today());
            sync_in_background();
            crl_in_background();
            app.manage(desk);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::kiosk_config,
            commands::providers,
            commands::checklist,
            commands::fee,
            commands::renewal,
            commands::read_key_renewal,
            commands::check_field,
            commands::returning_company,
            commands::licence_code,
            commands::licence_photo,
            commands::submit_application,
            commands::print_for_applicant,
            commands::login,
            commands::logout,
            commands::queue,
            commands::open_order,
            commands::check_item,
            commands::attach_scan,
            commands::extract_seal,
            commands::decide_seal,
            commands::advance,
            commands::pay,
            commands::present_keys,
            commands::supervisor_approve,
            commands::run_key,
            commands::print_document,
            commands::hand_over,
            commands::day_report,
            commands::export_day_report,
            commands::sync_status,
            commands::ui_ready,
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
