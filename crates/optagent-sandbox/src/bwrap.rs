//! Bubblewrap (`bwrap`, the sandbox Flatpak uses) for the local backend: turns a command line
//! into one that runs under `bwrap` with the options asked for. In a separate pid namespace with
//! a fresh `/proc`, a command sees only its own processes, so it cannot read optagent's
//! environment (the provider's key) from `/proc/<pid>/environ`. Where `bwrap` is missing or
//! cannot make namespaces (some containers forbid it), [`available`] says so and callers run the
//! command as it is.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The bubblewrap binary looked for on `PATH`.
pub const BWRAP: &str = "bwrap";

/// What the wrapped command gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BwrapOptions {
    /// A new pid namespace and a fresh `/proc` in it: the host's processes are invisible.
    pub unshare_pid: bool,
    /// A folder mounted read-only over itself (the rest of the filesystem stays as it is).
    pub read_only_root: Option<PathBuf>,
    /// `(host path, path inside)` pairs bound read-write, after the read-only folder (so a
    /// writable folder inside a read-only tree stays writable).
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// Whether `bwrap` is installed and can make a pid namespace with its own `/proc` here; probed
/// once per process by running `true` under it.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let probe = wrap(
            vec!["true".to_string()],
            &BwrapOptions {
                unshare_pid: true,
                ..Default::default()
            },
        );
        let ok = Command::new(&probe[0])
            .args(&probe[1..])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            tracing::warn!(
                "bubblewrap (bwrap) is missing or cannot create namespaces here: local commands \
                 share optagent's pid namespace (optagent itself is made non-dumpable)"
            );
        }
        ok
    })
}

/// `argv` run under `bwrap` with `opts`. The whole filesystem is bound as it is (devices
/// included); the working directory is kept; the sandbox dies with its parent, so killing the
/// spawned `bwrap` ends everything inside.
pub fn wrap(argv: Vec<String>, opts: &BwrapOptions) -> Vec<String> {
    let mut v: Vec<String> = [BWRAP, "--die-with-parent", "--dev-bind", "/", "/"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if opts.unshare_pid {
        v.extend(["--unshare-pid", "--proc", "/proc"].map(String::from));
    }
    if let Some(ro) = &opts.read_only_root {
        let p = ro.to_string_lossy().into_owned();
        v.extend(["--ro-bind".to_string(), p.clone(), p]);
    }
    for (host, inside) in &opts.binds {
        v.extend([
            "--bind".to_string(),
            host.to_string_lossy().into_owned(),
            inside.to_string_lossy().into_owned(),
        ]);
    }
    v.push("--".to_string());
    v.extend(argv);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_puts_the_options_before_the_command() {
        let v = wrap(
            vec!["sh".into(), "-c".into(), "echo hi".into()],
            &BwrapOptions {
                unshare_pid: true,
                read_only_root: Some("/t/tree".into()),
                binds: vec![("/t/out".into(), "/t/tree/out".into())],
            },
        );
        let s = v.join(" ");
        assert!(s.starts_with("bwrap --die-with-parent --dev-bind / / --unshare-pid --proc /proc"));
        assert!(s.contains("--ro-bind /t/tree /t/tree --bind /t/out /t/tree/out -- sh -c"));
        assert_eq!(v.last().unwrap(), "echo hi");
        let plain = wrap(vec!["true".into()], &BwrapOptions::default()).join(" ");
        assert_eq!(plain, "bwrap --die-with-parent --dev-bind / / -- true");
    }

    #[test]
    #[allow(clippy::print_stderr)] // the SKIP line the CI summary counts
    fn a_wrapped_command_sees_only_its_own_processes() {
        if !available() {
            optagent_testkit::skip(
                "a_wrapped_command_sees_only_its_own_processes",
                "bwrap is missing or cannot create a pid namespace here",
            );
            return;
        }
        let argv = wrap(
            vec![
                "sh".into(),
                "-c".into(),
                "ls /proc | grep -c '^[0-9]'".into(),
            ],
            &BwrapOptions {
                unshare_pid: true,
                ..Default::default()
            },
        );
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        // bwrap's init, sh, ls and grep at most: never the test runner or its siblings.
        assert!(n <= 4, "{n} processes visible");
        let me = std::process::id();
        let argv = wrap(
            vec![
                "sh".into(),
                "-c".into(),
                format!("test -e /proc/{me}/environ && echo seen"),
            ],
            &BwrapOptions {
                unshare_pid: true,
                ..Default::default()
            },
        );
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        // A pid that happens to exist inside the namespace too would be one of its own (<= 4).
        if me > 4 {
            assert!(!String::from_utf8_lossy(&out.stdout).contains("seen"));
        }
    }
}
