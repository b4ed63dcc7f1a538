//! The kiosk app end to end: the real WebKitGTK window, driven through
//! tauri-driver and WebKitWebDriver under Xvfb with openbox, on a demo
//! station (SoftHSM2 keys, demo CA) that prints to a private cupsd with a
//! cups-pdf queue. Screenshots of every main screen go to
//! `target/artifacts/screens/`.

#[path = "../e2e/cupsd.rs"]
mod cupsd;
mod driver;
mod walk;

#[test]
#[ignore = "needs Xvfb, openbox, tauri-driver and a built ui/dist; run by scripts/test"]
fn kiosk_app_walk_through() {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(walk::walk_through(|_| {}));
}
