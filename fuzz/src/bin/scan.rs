//! AFL entry point of the `scan` target; see `kiosk_fuzz::scan`.
//!
//! Under afl-fuzz it runs in persistent mode; run directly, it reads one
//! input from standard input (to replay a crash).
//!
//! `fuzz_nohook!`, not `fuzz!`: the upload check catches a decoder's panic
//! on purpose (an image library asserting on a crafted JPEG is refused as
//! `undecodable`), and `fuzz!` would abort on any panic, caught or not. A
//! panic that escapes `run` still aborts and is saved as a crash.

fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        kiosk_fuzz::scan::run(data);
    });
}
