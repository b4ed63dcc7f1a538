//! Live progress of the key work: a thread reads the personalization
//! journal through its own read-only connection (the command holds the
//! station) and sends each new line to the page as a `key-progress` event.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kiosk_app::store::Store;
use tauri::{AppHandle, Emitter};

use crate::ipc::ProgressEvent;

pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Stops after one last read, so the final step is sent too.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn watch(app: AppHandle, db: PathBuf, order_id: String) -> Watcher {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let Ok(Some(store)) = Store::open_read_only(&db) else {
            return;
        };
        // Lines from earlier attempts are not news.
        let mut seen = store.journal_entries(&order_id).map_or(0, |e| e.len());
        loop {
            let last = flag.load(Ordering::SeqCst);
            if let Ok(entries) = store.journal_entries(&order_id) {
                for e in entries.iter().skip(seen) {
                    let _ = app.emit(
                        "key-progress",
                        ProgressEvent {
                            order_id: order_id.clone(),
                            step: e.step.clone(),
                            step_zh: kiosk_app::step_label_zh(&e.step).to_string(),
                            phase: e.phase.clone(),
                        },
                    );
                }
                seen = seen.max(entries.len());
            }
            if last {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Watcher {
        stop,
        thread: Some(thread),
    }
}
