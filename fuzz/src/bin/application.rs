//! AFL entry point of the `application` target; see `kiosk_fuzz::application`.
//!
//! Under afl-fuzz it runs in persistent mode; run directly, it reads one
//! input from standard input (to replay a crash).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        kiosk_fuzz::application::run(data);
    });
}
