//! Exit codes: 0 on success, 2 when the user's input is at fault (as clap
//! does for bad arguments), 1 for everything else.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// Marks an error as the user's input being wrong (exit code 2).
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Wraps a message as an input error.
pub fn input(message: impl Into<String>) -> anyhow::Error {
    InputError(message.into()).into()
}

/// Makes `println!` or `eprintln!` into a closed pipe (`plexus chain validators | head`,
/// `plexus up 2>&1 | head`) end the program quietly and successfully, as `report` does
/// for a broken pipe returned as an error: those macros panic instead of returning one.
/// Commands with children to stop first (`plexus up`) write with [`say`] instead.
pub fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied());
        if message.is_some_and(|m| {
            (m.contains("failed printing to stdout") || m.contains("failed printing to stderr"))
                && m.contains("Broken pipe")
        }) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Prints the error chain to stderr and picks the exit code.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.chain().any(is_broken_pipe) => ExitCode::SUCCESS,
        Err(e) => {
            // Nowhere to say it if stderr is closed; the exit code still tells.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            if e.chain().any(|c| c.is::<InputError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Writes progress to stderr without panicking as `eprint!` does when stderr is a closed
/// pipe; the error says the reader is gone.
pub fn say(args: fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut stderr = std::io::stderr().lock();
    stderr.write_fmt(args)?;
    stderr.flush()
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == broken
        // JSON written straight to stdout fails with serde_json's error, whose chain
        // skips the I/O error it holds.
        || e.downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind)
            == broken
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use super::*;

    #[test]
    fn a_closed_pipe_ends_quietly_however_the_write_reports_it() {
        let pipe = || Error::from(ErrorKind::BrokenPipe);
        let io = anyhow::Error::from(pipe()).context("writing the report");
        let json = anyhow::Error::from(serde_json::Error::io(pipe()));
        for e in [io, json] {
            assert!(e.chain().any(is_broken_pipe), "{e:#}");
            assert_eq!(report(Err(e)), ExitCode::SUCCESS);
        }
        let other = anyhow::Error::from(serde_json::Error::io(Error::from(ErrorKind::NotFound)));
        assert!(!other.chain().any(is_broken_pipe));
        assert_eq!(report(Err(other)), ExitCode::FAILURE);
    }
}
