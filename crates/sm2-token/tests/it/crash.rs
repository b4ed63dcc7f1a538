//! `kill -9` of a process that is writing never loses a token or an object
//! whose creation returned.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;

use crate::common::*;

const KILLS: usize = 30;

#[test]
fn kill_9_loses_nothing_committed() {
    // Many tries: the writer fails a login at each round.
    isolated(
        "crash::kill_9_loses_nothing_committed",
        "max_pin_tries = 1000000",
        || {
            let ctx = open();
            new_token(&ctx, "crash");
            let mut jitter = Jitter::new();
            let mut committed: Vec<String> = Vec::new();
            for round in 0..KILLS {
                let mut child = Command::new(std::env::current_exe().unwrap())
                    .args([
                        "helper::entry",
                        "--exact",
                        "--nocapture",
                        "--include-ignored",
                        "--test-threads=1",
                    ])
                    .env(HELPER_ROLE, "writer crash")
                    .env_remove("KIOSK_IT_TEST")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let lines = Arc::new(Mutex::new(Vec::new()));
                let reader = {
                    let lines = lines.clone();
                    let stdout = child.stdout.take().unwrap();
                    std::thread::spawn(move || {
                        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                            if let Some(label) = line.strip_prefix("COMMITTED ") {
                                lines.lock().unwrap().push(label.to_string());
                            }
                        }
                    })
                };
                // Let it start (the first rounds may die before any object).
                std::thread::sleep(Duration::from_millis(40 + jitter.below(260)));
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                reader.join().unwrap();
                committed.extend(lines.lock().unwrap().drain(..));

                // The token is still there, and every committed object with it.
                let slot = slot_by_label(&ctx, "crash")
                    .unwrap_or_else(|| panic!("round {round}: the token is gone"));
                let s = user_session(&ctx, slot);
                for label in &committed {
                    let found = s
                        .find_objects(&[Attribute::Label(label.clone().into())])
                        .unwrap();
                    assert_eq!(found.len(), 1, "round {round}: {label} lost");
                    let value = s.get_attributes(found[0], &[AttributeType::Value]).unwrap();
                    assert_eq!(value, vec![Attribute::Value(label.clone().into())]);
                }
                s.logout().unwrap();
            }
            println!(
                "{} objects committed across {KILLS} kills, none lost",
                committed.len()
            );
            assert!(
                committed.len() > KILLS,
                "the writer hardly ran: {}",
                committed.len()
            );
            let info = ctx
                .get_token_info(slot_by_label(&ctx, "crash").unwrap())
                .unwrap();
            assert!(!info.user_pin_locked());
            let s = ctx
                .open_ro_session(slot_by_label(&ctx, "crash").unwrap())
                .unwrap();
            s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        },
    );
}
