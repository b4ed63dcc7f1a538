//! OpenSC's `pkcs11-tool` drives the module.

use cryptoki::object::Attribute;

use crate::common::*;

#[test]
fn pkcs11_tool_lists_slots_objects_and_mechanisms() {
    isolated(
        "opensc::pkcs11_tool_lists_slots_objects_and_mechanisms",
        "",
        || {
            assert!(
                !run("sh", &["-c", "command -v pkcs11-tool"])
                    .stdout
                    .is_empty(),
                "pkcs11-tool missing: run scripts/deps (Debian's opensc)"
            );
            let ctx = open();
            let slot = new_token(&ctx, "opensc");
            let s = user_session(&ctx, slot);
            s.generate_key_pair(
                &vendor_mech(0x8000_8001),
                &[
                    Attribute::Token(true),
                    Attribute::Id(vec![7]),
                    Attribute::Label(b"sm2".to_vec()),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Id(vec![7]),
                    Attribute::Label(b"sm2".to_vec()),
                ],
            )
            .unwrap();
            drop(s);
            let module = module_path();
            let out = run(
                "pkcs11-tool",
                &[
                    "--module",
                    module.to_str().unwrap(),
                    "--token-label",
                    "opensc",
                    "--login",
                    "--pin",
                    USER_PIN,
                    "--list-slots",
                    "--list-objects",
                    "--list-mechanisms",
                ],
            );
            let text = String::from_utf8_lossy(&out.stdout);
            println!("{text}{}", String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success());
            for expected in [
                "token label        : opensc",
                "token state:   uninitialized",
                "Public Key Object",
                "Private Key Object",
                "label:      sm2",
                "mechtype-0x80008001",
                "mechtype-0x80008102",
                "SHA256-HMAC",
                "GENERIC-SECRET-KEY-GEN",
            ] {
                assert!(text.contains(expected), "missing {expected:?}");
            }
        },
    );
}
