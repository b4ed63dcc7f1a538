//! The counter's touch-screen app. Every command is one call into
//! `kiosk-app`; this crate only wires IPC, state and the window.

// Release builds on Windows must not open a console next to the window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use kiosk_app::SystemClock;
use tauri::Manager;

use commands::Desk;

fn main() {
    tauri::Builder::default()
        .setup(|app| {
            // The same station as kioskctl's: KIOSK_DATA_DIR or the XDG data dir.
            app.manage(Desk::new(kiosk_app::data_dir(None), Box::new(SystemClock)));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::fee,
            commands::providers,
            commands::checklist,
            commands::renewal
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
