//! AFL entry point of the `validators` target; see `kiosk_fuzz::validators`.
//!
//! Under afl-fuzz it runs in persistent mode; run directly, it reads one
//! input from standard input (to replay a crash).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        kiosk_fuzz::validators::run(data);
    });
}
