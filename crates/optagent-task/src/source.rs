//! Where a task's git source is cloned from: a local mirror when one is found, else the network
//! through a shared cache, so that the K trees of a run share one object store.
//!
//! A source `git = "https://github.com/OWNER/NAME"` is looked up, in order, as
//! `<mirror>/OWNER/NAME` and `<mirror>/OWNER/NAME.git` (bare or not) in each folder of
//! [`GitSources::mirrors`] (from `OPTAGENT_GIT_MIRRORS`, a colon-separated list). A mirror that
//! lacks the task's base revision is passed over. Without a usable mirror, the URL is cloned once
//! (`git clone --bare`) into [`GitSources::cache`] and fetched again when it lacks the revision;
//! every tree is then a `git clone --shared` of the mirror or of the cache, which borrows its
//! objects and copies nothing. `OPTAGENT_OFFLINE=1` forbids the network. When nothing works, the
//! error names the URL and every path tried.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tree::TreeError;

/// The variable holding mirror folders (colon-separated).
pub const MIRRORS_VAR: &str = "OPTAGENT_GIT_MIRRORS";
/// The variable naming the cache of network clones (default `~/.cache/optagent/git`).
pub const CACHE_VAR: &str = "OPTAGENT_GIT_CACHE";
/// The variable that, set to `1`, forbids cloning from the network.
pub const OFFLINE_VAR: &str = "OPTAGENT_OFFLINE";

/// Where git sources may come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitSources {
    /// Folders holding mirrors as `OWNER/NAME` or `OWNER/NAME.git`, searched in order.
    pub mirrors: Vec<PathBuf>,
    /// Where network clones are kept (bare), shared by every tree; `None`: the network is not
    /// used.
    pub cache: Option<PathBuf>,
}

impl GitSources {
    /// From the environment: `OPTAGENT_GIT_MIRRORS`, `OPTAGENT_GIT_CACHE` (else
    /// `$XDG_CACHE_HOME/optagent/git`, else `~/.cache/optagent/git`) and `OPTAGENT_OFFLINE`.
    pub fn from_env() -> GitSources {
        let mirrors = std::env::var(MIRRORS_VAR)
            .map(|v| split_list(&v))
            .unwrap_or_default();
        let offline = std::env::var(OFFLINE_VAR).is_ok_and(|v| !v.is_empty() && v != "0");
        let cache = if offline {
            None
        } else if let Some(c) = std::env::var_os(CACHE_VAR).filter(|v| !v.is_empty()) {
            Some(PathBuf::from(c))
        } else if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(PathBuf::from(x).join("optagent/git"))
        } else {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache/optagent/git"))
        };
        GitSources { mirrors, cache }
    }
}

/// The folders of a colon-separated list, empty entries dropped.
pub fn split_list(v: &str) -> Vec<PathBuf> {
    v.split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Whether a source names a remote repository (a URL or `user@host:path`), as opposed to a
/// local path.
pub fn is_remote(repo: &str) -> bool {
    repo.contains("://") || (repo.contains('@') && repo.contains(':'))
}

/// `OWNER/NAME` of a repository URL: its last two path components, `.git` removed.
pub fn owner_name(url: &str) -> Option<(String, String)> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p)?,
        None => url.split_once(':').map(|(_, p)| p)?,
    };
    let parts: Vec<&str> = path
        .trim_end_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() < 2 {
        return None;
    }
    let name = parts[parts.len() - 1];
    let name = name.strip_suffix(".git").unwrap_or(name);
    let owner = parts[parts.len() - 2];
    let ok = |s: &str| {
        !s.is_empty()
            && !s.chars().all(|c| c == '.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (ok(owner) && ok(name)).then(|| (owner.to_string(), name.to_string()))
}

/// Why a source could not be cloned or fetched into the cache.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("running git: {0}")]
    Spawn(#[from] std::io::Error),
    /// git ran and failed: its arguments and what it said.
    #[error("git {args}: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("revision {rev} is not in {url}")]
    MissingRevision { url: String, rev: String },
    #[error("creating {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn git_in(dir: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    let out = c
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn has_commit(repo: &Path, rev: &str) -> bool {
    git_in(
        Some(repo),
        &["rev-parse", "-q", "--verify", &format!("{rev}^{{commit}}")],
    )
    .is_ok()
}

fn is_git_repo(dir: &Path) -> bool {
    dir.is_dir() && git_in(Some(dir), &["rev-parse", "--git-dir"]).is_ok()
}

/// Find the local repository a remote source is cloned from: a mirror holding `rev`, else the
/// cache (cloned or fetched from the network as needed). The error names the URL and every path
/// tried, with why each was passed over.
pub fn resolve(url: &str, rev: &str, sources: &GitSources) -> Result<PathBuf, TreeError> {
    let mut tried = Vec::new();
    let on = owner_name(url);
    if let Some((owner, name)) = &on {
        for root in &sources.mirrors {
            for cand in [
                root.join(owner).join(name),
                root.join(owner).join(format!("{name}.git")),
            ] {
                if !cand.exists() {
                    tried.push(format!("{} (absent)", cand.display()));
                } else if !is_git_repo(&cand) {
                    tried.push(format!("{} (not a git repository)", cand.display()));
                } else if !has_commit(&cand, rev) {
                    tried.push(format!("{} (lacks revision {rev})", cand.display()));
                } else {
                    tracing::debug!(url, mirror = %cand.display(), "using a local mirror");
                    return Ok(cand);
                }
            }
        }
    } else if !sources.mirrors.is_empty() {
        tried.push(format!(
            "no OWNER/NAME in {url}, so the mirrors ({}) were not searched",
            join_paths(&sources.mirrors)
        ));
    }
    if sources.mirrors.is_empty() {
        tried.push(format!("no mirror folders ({MIRRORS_VAR} is empty)"));
    }
    let network = match &sources.cache {
        None => format!("the network was not tried ({OFFLINE_VAR} is set)"),
        Some(cache) => {
            let (owner, name) = on
                .clone()
                .unwrap_or_else(|| ("_".into(), crate::tree::path_component(url)));
            let dest = cache.join(&owner).join(format!("{name}.git"));
            match clone_into_cache(url, rev, &dest) {
                Ok(()) => return Ok(dest),
                Err(e) => format!("cloning into {} failed: {e}", dest.display()),
            }
        }
    };
    Err(TreeError::Source {
        url: url.to_string(),
        tried,
        network,
    })
}

fn join_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Make `dest` a bare clone of `url` holding `rev`: cloned when absent (into a temporary folder
/// renamed into place, so concurrent trees never see half a clone), fetched when it lacks `rev`.
fn clone_into_cache(url: &str, rev: &str, dest: &Path) -> Result<(), GitError> {
    if is_git_repo(dest) {
        if has_commit(dest, rev) {
            return Ok(());
        }
        tracing::info!(url, cache = %dest.display(), "fetching: the cache lacks the revision");
        git_in(
            Some(dest),
            &[
                "fetch",
                "-q",
                "origin",
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
        )?;
        if !has_commit(dest, rev) {
            // A commit no branch reaches: hosts that allow it serve it by its hash.
            let sha = rev.trim_end_matches(['^', '~']);
            let _ = git_in(Some(dest), &["fetch", "-q", "origin", sha]);
        }
        return if has_commit(dest, rev) {
            Ok(())
        } else {
            Err(missing(url, rev))
        };
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| GitError::CreateDir {
        path: parent.to_path_buf(),
        source,
    })?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("repo"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    tracing::info!(url, cache = %dest.display(), "cloning from the network");
    let tmp_s = tmp.to_string_lossy().into_owned();
    if let Err(e) = git_in(None, &["clone", "-q", "--bare", url, &tmp_s]) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if std::fs::rename(&tmp, dest).is_err() {
        // Another process put its clone there first: use that one.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if has_commit(dest, rev) {
        Ok(())
    } else {
        Err(missing(url, rev))
    }
}

fn missing(url: &str, rev: &str) -> GitError {
    GitError::MissingRevision {
        url: url.to_string(),
        rev: rev.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_name_from_urls() {
        let on = |u: &str| owner_name(u).map(|(o, n)| format!("{o}/{n}"));
        assert_eq!(
            on("https://github.com/numpy/numpy").as_deref(),
            Some("numpy/numpy")
        );
        assert_eq!(
            on("https://github.com/python-pillow/Pillow.git/").as_deref(),
            Some("python-pillow/Pillow")
        );
        assert_eq!(
            on("git@github.com:tornadoweb/tornado.git").as_deref(),
            Some("tornadoweb/tornado")
        );
        assert_eq!(on("file:///srv/mirrors/a/b.git").as_deref(), Some("a/b"));
        assert_eq!(on("https://host/only"), None);
        assert_eq!(on("https://host/../.."), None);
    }

    #[test]
    fn remote_or_local() {
        assert!(is_remote("https://github.com/a/b"));
        assert!(is_remote("git@github.com:a/b.git"));
        assert!(!is_remote("../upstream"));
        assert!(!is_remote("/srv/repo"));
    }

    #[test]
    fn mirror_list_splits_on_colons() {
        assert_eq!(
            split_list(" /a: :/b/c:"),
            vec![PathBuf::from("/a"), PathBuf::from("/b/c")]
        );
    }
}
