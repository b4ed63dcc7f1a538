//! The counter's touch-screen app. Every command is one call into
//! `kiosk-app`; this crate only wires IPC, state and the window.

// Release builds on Windows must not open a console next to the window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use std::path::PathBuf;

use kiosk_app::SystemClock;
use tauri::Manager;

use commands::Desk;

fn main() {
    tauri::Builder::default()
        .setup(|app| {
            // The same variable as kioskctl, so a clerk can point both at one station.
            let data_dir = match std::env::var_os("KIOSK_DATA_DIR").filter(|d| !d.is_empty()) {
                Some(d) => PathBuf::from(d),
                None => app.path().app_data_dir()?,
            };
            app.manage(Desk::new(data_dir, Box::new(SystemClock)));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::fee,
            commands::checklist,
            commands::renewal
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
