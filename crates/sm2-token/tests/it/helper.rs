//! The entry point of helper processes (see `common::helper`): another
//! application using the same tokens. Ignored in a normal run.

use std::io::Write;

use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;

use crate::common::*;

#[test]
#[ignore = "runs only as a helper process of another test"]
fn entry() {
    let role = std::env::var(HELPER_ROLE).expect("a helper role");
    let args: Vec<&str> = role.split(' ').collect();
    let ctx = open();
    let slot = slot_by_label(&ctx, args[1]).expect("the token");
    match args[0] {
        // login <label> <pin>: tries a user login, prints the result.
        "login" => {
            let s = ctx.open_ro_session(slot).unwrap();
            let result = s.login(UserType::User, Some(&pin(args[2])));
            println!("LOGIN {:?}", result.map_err(|e| rv::<()>(Err(e))));
        }
        // writer <label>: writes objects and fails logins until killed,
        // printing the label of each object once C_CreateObject returned.
        "writer" => {
            let s = ctx.open_rw_session(slot).unwrap();
            let mut out = std::io::stdout().lock();
            for n in 0.. {
                let _ = s.login(UserType::User, Some(&pin("000000")));
                s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
                let label = format!("obj-{}-{n}", std::process::id());
                s.create_object(&[
                    Attribute::Class(ObjectClass::DATA),
                    Attribute::Token(true),
                    Attribute::Private(n % 2 == 0),
                    Attribute::Label(label.clone().into()),
                    Attribute::Value(label.clone().into()),
                ])
                .unwrap();
                writeln!(out, "COMMITTED {label}").unwrap();
                out.flush().unwrap();
                s.logout().unwrap();
            }
        }
        other => panic!("unknown helper role {other}"),
    }
}
