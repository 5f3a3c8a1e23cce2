//! Hashing archives and taking the pinned files out of them.
//!
//! Wheels are zips; sdists are gzipped tarballs. The format is read from the file's first
//! bytes rather than its name, because a file passed by hand may be renamed. Every file
//! taken out is hashed while it is written and compared with its pin, so a tampered archive
//! that somehow had the right outer hash could still not install a wrong file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fetch::FetchError;
use crate::spec::{ModelSpec, PinnedFile};

/// How many bytes pass between two progress reports.
const REPORT_EVERY: u64 = 8 << 20;

/// The SHA-256 of a file (lowercase hex), reporting the bytes hashed so far.
pub(crate) fn sha256_file(path: &Path, progress: &mut dyn FnMut(u64)) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let mut reported = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        if done - reported >= REPORT_EVERY {
            reported = done;
            progress(done);
        }
    }
    progress(done);
    Ok(hex::encode(hasher.finalize()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArchiveFormat {
    Zip,
    TarGz,
}

fn sniff(path: &Path) -> Result<ArchiveFormat, FetchError> {
    let mut magic = [0u8; 4];
    let mut file =
        File::open(path).map_err(|e| FetchError::io(format!("opening {}", path.display()), e))?;
    let n = file
        .read(&mut magic)
        .map_err(|e| FetchError::io(format!("reading {}", path.display()), e))?;
    match &magic[..n] {
        [b'P', b'K', 3, 4] => Ok(ArchiveFormat::Zip),
        [0x1f, 0x8b, ..] => Ok(ArchiveFormat::TarGz),
        _ => Err(FetchError::UnknownArchive {
            path: path.to_path_buf(),
        }),
    }
}

/// Takes `spec.files` out of `archive` into `dest` (an existing, empty directory),
/// checking each against its pin. `progress(file, written, total)`.
pub(crate) fn extract(
    archive: &Path,
    spec: &ModelSpec,
    dest: &Path,
    progress: &mut dyn FnMut(&'static str, u64, u64),
) -> Result<(), FetchError> {
    match sniff(archive)? {
        ArchiveFormat::Zip => extract_zip(archive, spec, dest, progress),
        ArchiveFormat::TarGz => extract_tar_gz(archive, spec, dest, progress),
    }
}

fn extract_zip(
    archive: &Path,
    spec: &ModelSpec,
    dest: &Path,
    progress: &mut dyn FnMut(&'static str, u64, u64),
) -> Result<(), FetchError> {
    let zip_error = |source| FetchError::Zip {
        path: archive.to_path_buf(),
        source,
    };
    let file = File::open(archive)
        .map_err(|e| FetchError::io(format!("opening {}", archive.display()), e))?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_error)?;
    for pinned in spec.files {
        let entry = match zip.by_name(pinned.archive_path) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(FetchError::MissingEntry {
                    archive: archive.to_path_buf(),
                    entry: pinned.archive_path.to_string(),
                });
            }
            Err(e) => return Err(zip_error(e)),
        };
        write_checked(entry, pinned, dest, progress)?;
    }
    Ok(())
}

fn extract_tar_gz(
    archive: &Path,
    spec: &ModelSpec,
    dest: &Path,
    progress: &mut dyn FnMut(&'static str, u64, u64),
) -> Result<(), FetchError> {
    let tar_error = |e| FetchError::io(format!("reading the tarball {}", archive.display()), e);
    let file = File::open(archive)
        .map_err(|e| FetchError::io(format!("opening {}", archive.display()), e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let mut found = vec![false; spec.files.len()];
    // A tarball can only be read front to back, so take the pinned files as they come.
    for entry in tar.entries().map_err(tar_error)? {
        let entry = entry.map_err(tar_error)?;
        let path = entry
            .path()
            .map_err(tar_error)?
            .to_string_lossy()
            .into_owned();
        if let Some(i) = spec.files.iter().position(|f| f.archive_path == path)
            && !found[i]
        {
            write_checked(entry, &spec.files[i], dest, progress)?;
            found[i] = true;
        }
    }
    match spec.files.iter().zip(&found).find(|(_, found)| !**found) {
        Some((missing, _)) => Err(FetchError::MissingEntry {
            archive: archive.to_path_buf(),
            entry: missing.archive_path.to_string(),
        }),
        None => Ok(()),
    }
}

/// Copies one entry to `dest/file_name`, hashing it on the way, and refuses it if its size
/// or hash differs from the pin.
fn write_checked(
    mut entry: impl Read,
    pinned: &PinnedFile,
    dest: &Path,
    progress: &mut dyn FnMut(&'static str, u64, u64),
) -> Result<(), FetchError> {
    let path = dest.join(pinned.file_name);
    let io_error = |e| FetchError::io(format!("writing {}", path.display()), e);
    let mut out = io::BufWriter::new(File::create(&path).map_err(io_error)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    let mut reported = 0u64;
    progress(pinned.file_name, 0, pinned.size);
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| FetchError::io(format!("unpacking {}", pinned.archive_path), e))?;
        if n == 0 {
            break;
        }
        // Stop early on an entry larger than its pin rather than filling the disk.
        if written + n as u64 > pinned.size {
            return Err(FetchError::FileMismatch {
                entry: pinned.archive_path.to_string(),
                expected_size: pinned.size,
                expected_sha256: pinned.sha256.to_string(),
                actual_size: written + n as u64,
                actual_sha256: "(not computed: larger than pinned)".to_string(),
            });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_error)?;
        written += n as u64;
        if written - reported >= REPORT_EVERY {
            reported = written;
            progress(pinned.file_name, written, pinned.size);
        }
    }
    out.into_inner()
        .map_err(|e| io_error(e.into_error()))?
        .sync_all()
        .map_err(io_error)?;
    let sha = hex::encode(hasher.finalize());
    if written != pinned.size || sha != pinned.sha256 {
        return Err(FetchError::FileMismatch {
            entry: pinned.archive_path.to_string(),
            expected_size: pinned.size,
            expected_sha256: pinned.sha256.to_string(),
            actual_size: written,
            actual_sha256: sha,
        });
    }
    progress(pinned.file_name, written, pinned.size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_for(files: &'static [PinnedFile]) -> ModelSpec {
        ModelSpec {
            name: "test-model",
            package: "test-package",
            version: "1.0.0",
            archive_file: "test_package-1.0.0.tar.gz",
            archive_size: 0,
            archive_sha256: "",
            files,
        }
    }

    fn pinned(archive_path: &'static str, content: &[u8]) -> PinnedFile {
        PinnedFile {
            archive_path,
            file_name: "weights.bin",
            size: content.len() as u64,
            sha256: String::leak(hex::encode(Sha256::digest(content))),
        }
    }

    fn tar_gz(path: &Path, entries: &[(&str, &[u8])]) {
        let file = File::create(path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn sdist_tarball_entries_are_taken_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("pkg.tar.gz");
        let content = b"model bytes".as_slice();
        tar_gz(
            &archive,
            &[
                ("pkg-1.0.0/README", b"x"),
                ("pkg-1.0.0/m/weights.bin", content),
            ],
        );
        let files = Vec::leak(vec![pinned("pkg-1.0.0/m/weights.bin", content)]);
        let spec = spec_for(files);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&archive, &spec, &out, &mut |_, _, _| {}).unwrap();
        assert_eq!(std::fs::read(out.join("weights.bin")).unwrap(), content);

        // The same tarball against a pin of other content is refused.
        let files = Vec::leak(vec![pinned("pkg-1.0.0/m/weights.bin", b"other bytes")]);
        let err = extract(&archive, &spec_for(files), &out, &mut |_, _, _| {}).unwrap_err();
        assert!(matches!(err, FetchError::FileMismatch { .. }), "{err}");

        let files = Vec::leak(vec![pinned("pkg-1.0.0/absent.bin", content)]);
        let err = extract(&archive, &spec_for(files), &out, &mut |_, _, _| {}).unwrap_err();
        assert!(matches!(err, FetchError::MissingEntry { .. }), "{err}");
    }

    #[test]
    fn files_that_are_not_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.whl");
        std::fs::write(&path, b"<html>not found</html>").unwrap();
        let err = extract(&path, &spec_for(&[]), dir.path(), &mut |_, _, _| {}).unwrap_err();
        assert!(matches!(err, FetchError::UnknownArchive { .. }), "{err}");
    }
}
