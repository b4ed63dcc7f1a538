//! Integration tests: the built `libkiosk_sm2_token.so` loaded through the
//! `cryptoki` crate, each test in a process of its own with its own token
//! directory (see `common::isolated`).

mod common;
mod crash;
mod helper;
mod lifecycle;
mod opensc;
mod secret;
mod sm2;
