//! One writer per output folder: a sweep holds an exclusive lock on `<out>/.optagent.lock` for as
//! long as it runs, so two sweeps (a second terminal, a scheduler that requeues a job) never both
//! run rollouts and append contradicting records.
//!
//! The lock is the kernel's (`flock`), so a holder that dies, however it dies, leaves nothing
//! stuck; the file also records who holds it (pid, host, start time, command line) so that the
//! refused sweep can say which one it is waiting for.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside an output folder.
pub const LOCK_FILE: &str = ".optagent.lock";

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{dir} is in use by another sweep ({holder}); wait for it to finish or stop it, \
         then run this one again"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("locking {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive hold on an output folder, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the folder's lock, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<OutputLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Never truncated before the lock is ours: the holder's line must survive for the
        // message of the one that is refused.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A lock this process dropped a moment ago can still be held by a child forked from
        // another thread while it was taken (the child shares the open file until it execs):
        // when the holder's line names this process, wait a moment for the exec.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let own = format!("pid {} ", std::process::id());
        let mut result = file.try_lock();
        while matches!(result, Err(TryLockError::WouldBlock))
            && std::time::Instant::now() < deadline
        {
            let mut holder = String::new();
            let _ = file.seek(SeekFrom::Start(0));
            let _ = file.read_to_string(&mut holder);
            if !holder.starts_with(&own) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            result = file.try_lock();
        }
        match result {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.seek(SeekFrom::Start(0));
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "a process that has not written its name yet".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let who = holder_line();
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(OutputLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `pid 123 on host h, since <time>: <command line>`.
fn holder_line() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let args: Vec<String> = std::env::args().collect();
    format!(
        "pid {} on host {host}, since {}: {}\n",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        args.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_folder_is_refused_naming_the_first() {
        let d = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(d.path()).unwrap();
        let err = OutputLock::acquire(d.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LockError::Held { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "names the holder: {msg}"
        );
        drop(first);
        // Released with its holder: the folder can be taken again.
        let again = OutputLock::acquire(d.path()).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }

    #[test]
    fn a_dead_holder_leaves_no_stuck_lock() {
        let d = tempfile::tempdir().unwrap();
        // A holder that died: its line is still in the file, but no process holds the lock.
        std::fs::write(
            d.path().join(LOCK_FILE),
            "pid 999999 on host gone, since 2020-01-01T00:00:00Z: optagent sweep x\n",
        )
        .unwrap();
        let l = OutputLock::acquire(d.path()).expect("a dead holder's file is no lock");
        let text = std::fs::read_to_string(l.path()).unwrap();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
    }
}
