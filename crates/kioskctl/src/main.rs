//! `kioskctl`: the station without a screen.
//!
//! Contract (scripts and the nightly job rely on it): exit 0 on success, 1
//! when the rules refuse or the input is invalid (with a Chinese message),
//! 2 on a usage error. `--json` prints exactly one JSON object on stdout.

mod clerks_cmd;
mod cli;
mod commands;
mod documents_cmd;
mod keys_cmd;
mod session_cmd;
mod sync_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.json;
    let outcome = commands::run(cli);
    let (value, human, code) = match outcome {
        Ok(out) => (out.json, out.human, out.exit),
        Err(e) => {
            let human = format!("错误：{}\nError: {}", e.message_zh(), e.message_en());
            (e.to_json(), human, 1)
        }
    };
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        writeln!(stdout, "{value}")
    } else if code == 0 {
        writeln!(stdout, "{human}")
    } else {
        Ok(())
    };
    if code != 0 {
        eprintln!("{human}");
    }
    // A closed pipe is the reader's business; anything else is ours.
    if let Err(e) = written.and_then(|_| stdout.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("kioskctl: cannot write output: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::from(code)
}
