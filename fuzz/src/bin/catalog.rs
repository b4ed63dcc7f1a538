//! AFL entry point of the `catalog` target; see `kiosk_fuzz::catalog`.
//!
//! Under afl-fuzz it runs in persistent mode; run directly, it reads one
//! input from standard input (to replay a crash).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        kiosk_fuzz::catalog::run(data);
    });
}
