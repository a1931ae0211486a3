//! Paths the model names, resolved inside the workspace: relative to its root, with `..` escapes,
//! absolute paths elsewhere and symlinks leading out refused (the existing part of a path is
//! canonicalized and must stay under the canonical root).

use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// A path inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsPath {
    /// Absolute, with symlinks in its existing part resolved.
    pub abs: PathBuf,
    /// Relative to the workspace root, `/`-separated (`.` for the root), for messages.
    pub rel: String,
}

/// The canonical form of a root, as an error the model cannot fix if it fails.
pub(crate) fn canonical_root(root: &Path) -> Result<PathBuf, ToolError> {
    root.canonicalize().map_err(|e| {
        ToolError::fatal(format!(
            "the workspace root {} is not accessible: {e}",
            root.display()
        ))
    })
}

/// Resolve `input` (relative to `root`, or absolute under it) to a path inside `root`.
pub(crate) fn resolve(root: &Path, input: &str) -> Result<WsPath, ToolError> {
    let input_t = input.trim();
    if input_t.is_empty() {
        return Err(ToolError::retry(
            "`path` is empty: give a path relative to the workspace root, e.g. `src/main.c` or `.`",
        ));
    }
    let root_c = canonical_root(root)?;
    let p = Path::new(input_t);
    let candidate = if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    };
    let abs = match resolve_existing(&candidate) {
        Some(a) => a,
        None => return Err(outside(input_t, &root_c, None)),
    };
    if !abs.starts_with(&root_c) {
        let via_link = first_symlink(root, p);
        return Err(outside(input_t, &root_c, via_link.map(|l| (l, abs))));
    }
    let rel = abs
        .strip_prefix(&root_c)
        .map(|r| {
            let s = r
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if s.is_empty() {
                ".".to_string()
            } else {
                s
            }
        })
        .unwrap_or_else(|_| input_t.to_string());
    Ok(WsPath { abs, rel })
}

/// Resolve a path whose tail may not exist: canonicalize the longest existing prefix, then add
/// the rest lexically (`..` in the rest pops). `None` when `..` pops above the filesystem root.
fn resolve_existing(path: &Path) -> Option<PathBuf> {
    // Lexically normalize first so that `a/../b` is `b` whatever `a` is.
    let mut norm = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !norm.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => norm.push(other.as_os_str()),
        }
    }
    let mut existing = norm.clone();
    let mut rest = Vec::new();
    loop {
        // symlink_metadata: a dangling link still "exists" and is resolved (and refused) below.
        if existing.symlink_metadata().is_ok() {
            break;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut abs = match existing.canonicalize() {
        Ok(a) => a,
        // A dangling symlink: follow it by hand one step to report where it points.
        Err(_) => match std::fs::read_link(&existing) {
            Ok(target) => {
                let t = if target.is_absolute() {
                    target
                } else {
                    existing.parent().unwrap_or(Path::new("/")).join(target)
                };
                return resolve_existing(&t).map(|mut a| {
                    for r in rest.iter().rev() {
                        a.push(r);
                    }
                    a
                });
            }
            Err(_) => existing,
        },
    };
    for r in rest.iter().rev() {
        abs.push(r);
    }
    Some(abs)
}

/// The first component of `rel` under `root` that is a symlink, if any.
fn first_symlink(root: &Path, rel: &Path) -> Option<String> {
    if rel.is_absolute() {
        return None;
    }
    let mut cur = root.to_path_buf();
    let mut shown = PathBuf::new();
    for c in rel.components() {
        if let Component::Normal(n) = c {
            cur.push(n);
            shown.push(n);
            if cur
                .symlink_metadata()
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
            {
                return Some(shown.display().to_string());
            }
        } else if let Component::ParentDir = c {
            cur.pop();
            shown.pop();
        }
    }
    None
}

fn outside(input: &str, root: &Path, link: Option<(String, PathBuf)>) -> ToolError {
    let why = match link {
        Some((l, target)) => format!(
            "`{l}` is a symbolic link to {}, which is outside the workspace",
            target.display()
        ),
        None => "it leads outside the workspace".to_string(),
    };
    ToolError::retry(format!(
        "Refusing the path `{input}`: {why} ({}). Use a path relative to the workspace root, \
         without `..` leading out of it.",
        root.display()
    ))
}

/// Whether `input` is an absolute path inside `dir` (for read-only access to run artifacts).
pub(crate) fn inside_dir(dir: &Path, input: &str) -> Option<PathBuf> {
    let p = Path::new(input.trim());
    if !p.is_absolute() {
        return None;
    }
    let dir_c = dir.canonicalize().ok()?;
    let abs = p.canonicalize().ok()?;
    abs.starts_with(&dir_c).then_some(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_and_escapes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.py"), "x").unwrap();
        let p = resolve(&root, "src/a.py").unwrap();
        assert_eq!(p.rel, "src/a.py");
        assert_eq!(
            resolve(&root, "src/../src/new.py").unwrap().rel,
            "src/new.py"
        );
        assert_eq!(resolve(&root, ".").unwrap().rel, ".");
        assert_eq!(resolve(&root, "new/dir/f.c").unwrap().rel, "new/dir/f.c");
        let abs_inside = root.join("src/a.py").display().to_string();
        assert_eq!(resolve(&root, &abs_inside).unwrap().rel, "src/a.py");
        for bad in [
            "../x",
            "src/../../x",
            "/etc/passwd",
            "../../../../../../../../etc/passwd",
        ] {
            match resolve(&root, bad) {
                Err(ToolError::Retry(m)) => {
                    assert!(m.contains("outside the workspace"), "{bad}: {m}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn symlinks_leading_out_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        let out = d.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(&out, root.join("link")).unwrap();
        std::os::unix::fs::symlink(out.join("nothing"), root.join("dangling")).unwrap();
        for bad in ["link/secret", "link/new", "dangling"] {
            match resolve(&root, bad) {
                Err(ToolError::Retry(m)) => {
                    assert!(m.contains("symbolic link"), "{bad}: {m}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        // A link that stays inside is fine.
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("alias")).unwrap();
        assert_eq!(resolve(&root, "alias/f").unwrap().rel, "real/f");
    }
}
