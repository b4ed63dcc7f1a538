//! The counter's touch-screen app. Every command is one call into
//! `kiosk-app`; the crate's library wires IPC, state, events and the window.

// Release builds on Windows must not open a console next to the window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    kiosk_station::run();
}
