//! Tokens, slots, PINs, login state and object visibility.

use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass};
use cryptoki::session::{SessionState, UserType};

use crate::common::*;

fn data(label: &str, private: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(private),
        Attribute::Label(label.into()),
        Attribute::Application(b"kiosk".to_vec()),
        Attribute::Value(b"some data".to_vec()),
    ]
}

#[test]
fn init_token_find_it_and_log_in() {
    isolated("lifecycle::init_token_find_it_and_log_in", "", || {
        let ctx = open();
        let slots = ctx.get_slots_with_token().unwrap();
        assert_eq!(slots.len(), 1, "one free slot on a new token directory");
        let blank = ctx.get_token_info(slots[0]).unwrap();
        assert!(!blank.token_initialized());

        ctx.init_token(slots[0], &pin(SO_PIN), "station").unwrap();
        let slots = ctx.get_slots_with_token().unwrap();
        assert_eq!(slots.len(), 2, "a new free slot appears");
        let slot = slot_by_label(&ctx, "station").expect("found by label");
        let info = ctx.get_token_info(slot).unwrap();
        let serial = info.serial_number().to_string();
        assert_eq!(serial.len(), 16);
        assert!(serial.chars().all(|c| c.is_ascii_hexdigit()), "{serial}");
        assert!(info.token_initialized() && info.login_required() && info.rng());
        assert!(!info.user_pin_initialized());
        assert_eq!(
            slots
                .iter()
                .filter(|s| !ctx.get_token_info(**s).unwrap().token_initialized())
                .count(),
            1
        );

        // The user PIN is set by the SO.
        let s = ctx.open_rw_session(slot).unwrap();
        assert_eq!(
            rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
            RvError::UserPinNotInitialized
        );
        s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
        assert_eq!(
            s.get_session_info().unwrap().session_state(),
            SessionState::RwSecurityOfficer
        );
        s.init_pin(&pin(USER_PIN)).unwrap();
        s.logout().unwrap();
        let info = ctx.get_token_info(slot).unwrap();
        assert!(info.user_pin_initialized());
        assert!(!info.user_pin_count_low() && !info.user_pin_locked() && !info.so_pin_count_low());

        // A successful login with no counter to reset writes nothing.
        let record = work_dir().join("tokens").join(&serial).join("token.json");
        let before = std::fs::metadata(&record).unwrap();
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        let after = std::fs::metadata(&record).unwrap();
        assert_eq!(before.modified().unwrap(), after.modified().unwrap());
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&before),
            std::os::unix::fs::MetadataExt::ino(&after)
        );
        assert_eq!(
            s.get_session_info().unwrap().session_state(),
            SessionState::RwUser
        );
        assert_eq!(
            rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
            RvError::UserAlreadyLoggedIn
        );
        assert_eq!(
            rv(s.login(UserType::So, Some(&pin(SO_PIN)))),
            RvError::UserAnotherAlreadyLoggedIn
        );

        // Login state is per application: a second session shares it.
        let ro = ctx.open_ro_session(slot).unwrap();
        assert_eq!(
            ro.get_session_info().unwrap().session_state(),
            SessionState::RoUser
        );

        // Private objects exist only for the logged-in user.
        s.create_object(&data("secret-data", true)).unwrap();
        s.create_object(&data("public-data", false)).unwrap();
        assert_eq!(
            rv(ro.create_object(&data("x", false))),
            RvError::SessionReadOnly
        );
        let all = [Attribute::Class(ObjectClass::DATA)];
        assert_eq!(s.find_objects(&all).unwrap().len(), 2);
        s.logout().unwrap();
        assert_eq!(rv(s.logout()), RvError::UserNotLoggedIn);
        let visible = s.find_objects(&all).unwrap();
        assert_eq!(visible.len(), 1, "the private object is hidden");
        assert_eq!(
            rv(s.create_object(&data("p", true))),
            RvError::UserNotLoggedIn
        );
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        assert_eq!(s.find_objects(&all).unwrap().len(), 2);

        // Label and id can be changed; the value cannot.
        let found = s
            .find_objects(&[Attribute::Label(b"public-data".to_vec())])
            .unwrap();
        assert_eq!(found.len(), 1);
        s.update_attributes(found[0], &[Attribute::Label(b"renamed".to_vec())])
            .unwrap();
        assert_eq!(
            s.find_objects(&[Attribute::Label(b"renamed".to_vec())])
                .unwrap(),
            found
        );
        assert_eq!(
            rv(s.update_attributes(found[0], &[Attribute::Value(b"other".to_vec())])),
            RvError::AttributeReadOnly
        );
        let attrs = s
            .get_attributes(
                found[0],
                &[AttributeType::Application, AttributeType::Value],
            )
            .unwrap();
        assert_eq!(
            attrs,
            vec![
                Attribute::Application(b"kiosk".to_vec()),
                Attribute::Value(b"some data".to_vec())
            ]
        );

        // Session objects live in memory only.
        let mut temp = data("temporary", false);
        temp[1] = Attribute::Token(false);
        let h = s.create_object(&temp).unwrap();
        assert_eq!(s.find_objects(&[Attribute::Token(false)]).unwrap(), vec![h]);
        let other = ctx.open_rw_session(slot).unwrap();
        let mut short = data("short-lived", false);
        short[1] = Attribute::Token(false);
        other.create_object(&short).unwrap();
        let short = [Attribute::Label(b"short-lived".to_vec())];
        assert_eq!(
            s.find_objects(&short).unwrap().len(),
            1,
            "seen by the process's sessions"
        );
        drop(other);
        assert!(
            s.find_objects(&short).unwrap().is_empty(),
            "gone with its session"
        );
        s.destroy_object(found[0]).unwrap();
        assert!(s
            .find_objects(&[Attribute::Label(b"renamed".to_vec())])
            .unwrap()
            .is_empty());

        // X.509 certificates, found by class and id.
        let cert = s
            .create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Id(vec![9]),
                Attribute::Label(b"station cert".to_vec()),
                Attribute::Subject(vec![0x30, 0x00]),
                Attribute::Value(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            ])
            .unwrap();
        let by_id = [
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Id(vec![9]),
        ];
        assert_eq!(s.find_objects(&by_id).unwrap(), vec![cert]);
        s.update_attributes(cert, &[Attribute::Id(vec![10])])
            .unwrap();
        assert!(s.find_objects(&by_id).unwrap().is_empty());

        // C_SetPIN changes the user's PIN (read-write sessions only).
        assert_eq!(
            rv(ro.set_pin(&pin(USER_PIN), &pin("654321"))),
            RvError::SessionReadOnly
        );
        s.set_pin(&pin(USER_PIN), &pin("654321")).unwrap();
        s.logout().unwrap();
        assert_eq!(
            rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
            RvError::PinIncorrect
        );
        s.login(UserType::User, Some(&pin("654321"))).unwrap();
        s.logout().unwrap();
        drop(ro);

        // ... and the SO's, while the SO is logged in.
        s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
        s.set_pin(&pin(SO_PIN), &pin("new-so-pin")).unwrap();
        s.logout().unwrap();
        s.login(UserType::So, Some(&pin("new-so-pin"))).unwrap();
        s.logout().unwrap();

        // The token is in a directory of its own.
        let dirs = std::fs::read_dir(work_dir().join("tokens"))
            .unwrap()
            .count();
        assert_eq!(dirs, 1);
    });
}

#[test]
fn wrong_pins_lock_until_the_so_resets() {
    isolated(
        "lifecycle::wrong_pins_lock_until_the_so_resets",
        "max_pin_tries = 3",
        || {
            let ctx = open();
            let slot = new_token(&ctx, "locking");
            let s = ctx.open_rw_session(slot).unwrap();
            for n in 1..=3 {
                assert_eq!(
                    rv(s.login(UserType::User, Some(&pin("000000")))),
                    RvError::PinIncorrect
                );
                let info = ctx.get_token_info(slot).unwrap();
                match n {
                    1 => assert!(info.user_pin_count_low() && !info.user_pin_final_try()),
                    2 => assert!(info.user_pin_count_low() && info.user_pin_final_try()),
                    _ => assert!(info.user_pin_locked()),
                }
            }
            assert_eq!(
                rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
                RvError::PinLocked
            );

            // Another process sees the lock.
            let out = helper("login", &["locking", USER_PIN]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("LOGIN Err(PinLocked)"), "{text}");

            // The SO unlocks it with C_InitPIN.
            s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
            s.init_pin(&pin("777777")).unwrap();
            s.logout().unwrap();
            let info = ctx.get_token_info(slot).unwrap();
            assert!(!info.user_pin_locked() && !info.user_pin_count_low());
            s.login(UserType::User, Some(&pin("777777"))).unwrap();
            s.logout().unwrap();
            let out = helper("login", &["locking", "777777"]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("LOGIN Ok"), "{text}");

            // The SO PIN locks too.
            for _ in 0..3 {
                assert_eq!(
                    rv(s.login(UserType::So, Some(&pin("wrong-so")))),
                    RvError::PinIncorrect
                );
            }
            assert!(ctx.get_token_info(slot).unwrap().so_pin_locked());
            assert_eq!(
                rv(s.login(UserType::So, Some(&pin(SO_PIN)))),
                RvError::PinLocked
            );
            // The user is not affected.
            s.login(UserType::User, Some(&pin("777777"))).unwrap();
        },
    );
}

#[test]
fn objects_fill_the_token_memory_and_no_more() {
    isolated(
        "lifecycle::objects_fill_the_token_memory_and_no_more",
        "memory = 4096",
        || {
            let ctx = open();
            let slot = new_token(&ctx, "small");
            let info = ctx.get_token_info(slot).unwrap();
            assert_eq!(info.total_public_memory(), Some(4096));
            assert_eq!(info.free_public_memory(), Some(4096));
            let s = user_session(&ctx, slot);
            let sized = |n: usize| {
                let mut a = data("blob", false);
                a.pop();
                a.push(Attribute::Value(vec![0x5a; n]));
                a
            };
            let first = s.create_object(&sized(3000)).unwrap();
            let free = ctx
                .get_token_info(slot)
                .unwrap()
                .free_public_memory()
                .unwrap();
            assert!(free < 1096, "{free} bytes left");
            // Full: refused as a chip refuses, and nothing is kept.
            assert_eq!(rv(s.create_object(&sized(2000))), RvError::DeviceMemory);
            assert_eq!(
                s.find_objects(&[Attribute::Label("blob".into())])
                    .unwrap()
                    .len(),
                1
            );
            // Taking one away makes room again.
            s.destroy_object(first).unwrap();
            assert_eq!(
                ctx.get_token_info(slot).unwrap().free_public_memory(),
                Some(4096)
            );
            s.create_object(&sized(2000)).unwrap();
        },
    );
}
