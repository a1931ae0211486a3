//! The git trees a task is measured on.
//!
//! Every tree is a git repository whose base commit is tagged `optagent-base`: a bundled folder is
//! copied and committed; a git source is cloned with `--shared` (objects borrowed, nothing copied,
//! the user's repository untouched) and checked out at the base revision. Patches apply with GSO's
//! fallbacks, protected globs reset to the base, and the diff against the base is the patch.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::source::GitSources;
use crate::spec::{ExpertKind, SourceKind, Task};

const BASE_TAG: &str = "optagent-base";
/// Folder inside every tree where optagent keeps its own files (never part of a diff).
pub const STATE_DIR: &str = ".optagent";

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{context}: `{command}` failed: {detail}")]
    Git {
        context: String,
        command: String,
        detail: String,
    },
    /// A remote source that no mirror holds and the network did not give.
    #[error(
        "cannot clone source.git {url}: no local mirror holds it ({}), and {network}; put a mirror \
         at <folder>/OWNER/NAME(.git) and name the folder in OPTAGENT_GIT_MIRRORS or --mirrors",
        tried.join("; ")
    )]
    Source {
        url: String,
        /// Every mirror path tried, each with why it was passed over.
        tried: Vec<String>,
        /// What happened with the network.
        network: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// How a patch went onto a tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ApplyOutcome {
    /// Applied by the named method (`git apply`, ..., `patch --fuzz=5`); empty patches too.
    Applied { method: String },
    /// Every method failed; the last one's message.
    Failed { reason: String },
}

/// A name made safe as one path component: letters, digits, `-`, `_` and `.` are kept, the rest
/// become `_`, and an empty or dots-only name (`.`, `..`) becomes `_` too.
pub fn path_component(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.chars().all(|c| c == '.') {
        "_".into()
    } else {
        s
    }
}

/// One materialized tree.
#[derive(Debug, Clone)]
pub struct Tree {
    pub root: PathBuf,
    /// The base commit's full hash.
    pub base: String,
    /// The expert revision's full hash, for a git source whose expert is a revision (resolved
    /// before the source's refs were removed from the tree).
    expert: Option<String>,
}

fn git(dir: &Path, args: &[&str], context: &str) -> Result<String, TreeError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|source| TreeError::Io {
            context: format!("{context}: running git"),
            source,
        })?;
    if !out.status.success() {
        return Err(TreeError::Git {
            context: context.to_string(),
            command: format!("git {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn copy_dir(src: &Path, dst: &Path) -> Result<(), TreeError> {
    let io = |context: String| move |source| TreeError::Io { context, source };
    for entry in walkdir::WalkDir::new(src).follow_links(false) {
        let entry = entry.map_err(|e| TreeError::Io {
            context: format!("reading {}", src.display()),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(src).expect("under src");
        if rel
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == ".git")
        {
            continue;
        }
        let target = dst.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(io(format!("creating {}", target.display())))?;
        } else if ft.is_symlink() {
            let link = std::fs::read_link(entry.path())
                .map_err(io(format!("reading link {}", entry.path().display())))?;
            std::os::unix::fs::symlink(link, &target)
                .map_err(io(format!("creating link {}", target.display())))?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(io(format!("copying {}", entry.path().display())))?;
        }
    }
    Ok(())
}

fn init_identity(root: &Path) -> Result<(), TreeError> {
    git(
        root,
        &["config", "user.email", "optagent@localhost"],
        "configuring tree",
    )?;
    git(
        root,
        &["config", "user.name", "optagent"],
        "configuring tree",
    )?;
    git(
        root,
        &["config", "commit.gpgsign", "false"],
        "configuring tree",
    )?;
    git(
        root,
        &["config", "core.hooksPath", "/dev/null"],
        "configuring tree",
    )?;
    exclude(root, STATE_DIR)
}

/// Remove every ref a clone brought (branches, tags, the remote), as GSO and SWE-fficiency do
/// in their images, so that `git log --all` in the tree shows no commit after the base, the
/// expert's included. The objects stay readable by hash (they are borrowed, not copied).
fn hide_refs(root: &Path) -> Result<(), TreeError> {
    let _ = git(root, &["remote", "remove", "origin"], "removing the remote");
    let refs = git(
        root,
        &["for-each-ref", "--format=%(refname)"],
        "listing the clone's refs",
    )?;
    for r in refs.lines().filter(|r| !r.is_empty()) {
        git(root, &["update-ref", "-d", r], "removing the clone's refs")?;
    }
    Ok(())
}

/// Add `/<name>/` to the tree's `.git/info/exclude`: git ignores it, diffs never include it.
fn exclude(root: &Path, name: &str) -> Result<(), TreeError> {
    let exclude = root.join(".git/info/exclude");
    std::fs::create_dir_all(exclude.parent().expect("has parent")).ok();
    let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
    let line = format!("/{name}/");
    if !text.lines().any(|l| l == line) {
        text.push_str(&format!("\n{line}\n"));
        std::fs::write(&exclude, text).map_err(|source| TreeError::Io {
            context: format!("writing {}", exclude.display()),
            source,
        })?;
    }
    Ok(())
}

impl Tree {
    /// Make a fresh tree of the task's base at `dest` (which must not exist or be empty); a
    /// remote git source comes from the mirrors and cache of [`GitSources::from_env`].
    /// A tree already on disk at `root` whose base commit is `base` (no expert revision).
    pub fn existing(root: PathBuf, base: String) -> Tree {
        Tree {
            root,
            base,
            expert: None,
        }
    }

    pub fn materialize(task: &Task, dest: &Path) -> Result<Tree, TreeError> {
        Self::materialize_with(task, dest, &GitSources::from_env())
    }

    /// [`Tree::materialize`] with explicit places to clone a remote source from.
    pub fn materialize_with(
        task: &Task,
        dest: &Path,
        sources: &GitSources,
    ) -> Result<Tree, TreeError> {
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(|source| TreeError::Io {
                context: format!("clearing {}", dest.display()),
                source,
            })?;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|source| TreeError::Io {
                context: format!("creating {}", parent.display()),
                source,
            })?;
        }
        let mut expert = None;
        let base = match task.source() {
            SourceKind::Folder(src) => {
                std::fs::create_dir_all(dest).map_err(|source| TreeError::Io {
                    context: format!("creating {}", dest.display()),
                    source,
                })?;
                copy_dir(&src, dest)?;
                git(dest, &["init", "-q", "-b", "main"], "initializing tree")?;
                init_identity(dest)?;
                git(dest, &["add", "-A"], "committing the base")?;
                git(
                    dest,
                    &["commit", "-q", "--allow-empty", "-m", "optagent base"],
                    "committing the base",
                )?;
                git(dest, &["rev-parse", "HEAD"], "reading the base")?
                    .trim()
                    .to_string()
            }
            SourceKind::Git { repo, rev } => {
                let local = if crate::source::is_remote(&repo) {
                    crate::source::resolve(&repo, &rev, sources)?
                        .to_string_lossy()
                        .into_owned()
                } else {
                    repo.clone()
                };
                let dest_s = dest.to_string_lossy().into_owned();
                let here = dest.parent().unwrap_or(Path::new("."));
                git(
                    here,
                    &["clone", "-q", "--shared", "--no-checkout", &local, &dest_s],
                    &format!("cloning {repo}"),
                )?;
                init_identity(dest)?;
                let sha = git(
                    dest,
                    &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
                    &format!("resolving source.rev {rev:?} in {repo}"),
                )?
                .trim()
                .to_string();
                git(
                    dest,
                    &["checkout", "-q", "--detach", &sha],
                    "checking out the base",
                )?;
                if let ExpertKind::Rev(r) = task.expert() {
                    let e = git(
                        dest,
                        &["rev-parse", "--verify", &format!("{r}^{{commit}}")],
                        &format!("resolving expert.rev {r:?} in {repo}"),
                    )?;
                    expert = Some(e.trim().to_string());
                }
                hide_refs(dest)?;
                sha
            }
        };
        // A virtual environment that setup makes in the tree is never part of a diff.
        if let Some(top) = task
            .spec
            .build
            .activate
            .as_deref()
            .and_then(|a| Path::new(a).components().next())
        {
            exclude(dest, &top.as_os_str().to_string_lossy())?;
        }
        git(dest, &["tag", "-f", BASE_TAG, &base], "tagging the base")?;
        Ok(Tree {
            root: dest.to_path_buf(),
            base,
            expert,
        })
    }

    /// The expert's change as a diff against the base.
    pub fn expert_patch(&self, task: &Task) -> Result<String, TreeError> {
        match task.expert() {
            ExpertKind::Patch(p) => std::fs::read_to_string(&p).map_err(|source| TreeError::Io {
                context: format!("reading expert.patch {}", p.display()),
                source,
            }),
            ExpertKind::Rev(rev) => {
                let sha = match &self.expert {
                    Some(sha) => sha.clone(),
                    None => git(
                        &self.root,
                        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
                        &format!("resolving expert.rev {rev:?}"),
                    )?,
                };
                git(
                    &self.root,
                    &["diff", "--binary", &self.base, sha.trim()],
                    "diffing the expert revision",
                )
            }
        }
    }

    /// Put the tree back to its base: tracked files restored, untracked files removed (ignored
    /// ones, like build outputs and virtual environments, are kept).
    pub fn reset(&self) -> Result<(), TreeError> {
        git(
            &self.root,
            &["checkout", "-q", "-f", "--detach", &self.base],
            "resetting tree",
        )?;
        git(
            &self.root,
            &["reset", "-q", "--hard", &self.base],
            "resetting tree",
        )?;
        git(
            &self.root,
            &["clean", "-q", "-fd", "-e", STATE_DIR],
            "cleaning tree",
        )?;
        Ok(())
    }

    /// Reset, then apply a patch, trying in order what GSO's harness tries: `git apply`,
    /// `git apply --ignore-space-change`, `git apply --reject`, `patch --batch --fuzz=5 -p1`.
    pub fn apply(&self, patch: &str) -> Result<ApplyOutcome, TreeError> {
        self.reset()?;
        if patch.trim().is_empty() {
            return Ok(ApplyOutcome::Applied {
                method: "empty patch".into(),
            });
        }
        let dir = self.root.join(STATE_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| TreeError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        let file = dir.join("incoming.diff");
        let mut text = patch.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        std::fs::write(&file, text).map_err(|source| TreeError::Io {
            context: format!("writing {}", file.display()),
            source,
        })?;
        let f = file.to_string_lossy().into_owned();
        let attempts: [(&str, Vec<&str>); 4] = [
            ("git apply", vec!["git", "apply", "--whitespace=nowarn", &f]),
            (
                "git apply --ignore-space-change",
                vec![
                    "git",
                    "apply",
                    "--whitespace=nowarn",
                    "--ignore-space-change",
                    &f,
                ],
            ),
            (
                "git apply --reject",
                vec!["git", "apply", "--whitespace=nowarn", "--reject", &f],
            ),
            (
                "patch --batch --fuzz=5 -p1",
                vec!["patch", "--batch", "--fuzz=5", "-p1", "-i", &f],
            ),
        ];
        let mut last = String::new();
        for (name, argv) in attempts {
            let out = Command::new(argv[0])
                .args(&argv[1..])
                .current_dir(&self.root)
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    // `patch` leaves .orig/.rej files behind; they are not part of the change.
                    self.remove_patch_leftovers();
                    return Ok(ApplyOutcome::Applied {
                        method: name.to_string(),
                    });
                }
                Ok(o) => {
                    last = format!(
                        "{name}: {}{}",
                        String::from_utf8_lossy(&o.stderr).trim(),
                        String::from_utf8_lossy(&o.stdout).trim()
                    );
                }
                Err(e) => last = format!("{name}: {e}"),
            }
            self.reset()?;
        }
        Ok(ApplyOutcome::Failed {
            reason: truncate_middle(&last, 2000),
        })
    }

    fn remove_patch_leftovers(&self) {
        if let Ok(out) = git(
            &self.root,
            &["ls-files", "--others", "--exclude-standard"],
            "listing leftovers",
        ) {
            for f in out.lines() {
                if f.ends_with(".orig") || f.ends_with(".rej") {
                    let _ = std::fs::remove_file(self.root.join(f));
                }
            }
        }
    }

    /// Restore files matching the protected globs to the base, and remove files added under
    /// them, so edits to tests and workloads never count.
    pub fn restore_protected(&self, globs: &[String]) -> Result<(), TreeError> {
        if globs.is_empty() {
            return Ok(());
        }
        let specs: Vec<String> = globs.iter().map(|g| format!(":(glob){g}")).collect();
        // A glob that matches nothing in the base is an error for checkout; check each alone.
        for spec in &specs {
            let r = git(
                &self.root,
                &["checkout", "-q", &self.base, "--", spec],
                "restoring protected files",
            );
            if let Err(TreeError::Git { detail, .. }) = &r {
                if detail.contains("did not match") {
                    continue;
                }
            }
            r?;
        }
        // -x: ignored files too (a patch could plant an ignored `bench/random.pyc` that a
        // workload would import in place of the real module).
        let mut clean = vec!["clean", "-q", "-fdx", "--"];
        clean.extend(specs.iter().map(String::as_str));
        git(
            &self.root,
            &clean,
            "removing files added under protected paths",
        )?;
        Ok(())
    }

    /// The tree's change against the base, as a patch (`git diff --binary`), untracked files
    /// included; the tree's index is left untouched.
    pub fn diff(&self) -> Result<String, TreeError> {
        // git resolves a relative GIT_INDEX_FILE against the tree, not against our folder: an
        // absolute path means the same file whatever the current folder is.
        let index = std::path::absolute(self.root.join(STATE_DIR).join("diff.index")).map_err(
            |source| TreeError::Io {
                context: format!("resolving the tree {}", self.root.display()),
                source,
            },
        )?;
        std::fs::create_dir_all(index.parent().expect("parent")).map_err(|source| {
            TreeError::Io {
                context: format!("creating {}", index.display()),
                source,
            }
        })?;
        let run = |args: &[&str]| -> Result<String, TreeError> {
            let out = Command::new("git")
                .arg("-C")
                .arg(&self.root)
                .args(args)
                .env("GIT_INDEX_FILE", &index)
                .output()
                .map_err(|source| TreeError::Io {
                    context: "running git".into(),
                    source,
                })?;
            if !out.status.success() {
                return Err(TreeError::Git {
                    context: "taking the diff".into(),
                    command: format!("git {}", args.join(" ")),
                    detail: String::from_utf8_lossy(&out.stderr).trim().into(),
                });
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        run(&["read-tree", &self.base])?;
        run(&["add", "-A", "."])?;
        let d = run(&["diff", "--cached", "--binary", &self.base])?;
        let _ = std::fs::remove_file(&index);
        Ok(d)
    }

    /// Files changed against the base (paths relative to the root).
    pub fn changed_files(&self) -> Result<Vec<String>, TreeError> {
        let d = self.diff()?;
        Ok(d.lines()
            .filter_map(|l| l.strip_prefix("+++ b/"))
            .map(str::to_string)
            .collect())
    }
}

fn truncate_middle(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut head = max / 2;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - max / 2;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{} [...] {}", &s[..head], &s[tail..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Task;

    fn task_with_repo(
        files: &[(&str, &str)],
        expert: &str,
        extra: &str,
    ) -> (tempfile::TempDir, Task) {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        for (p, c) in files {
            let f = repo.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        }
        std::fs::write(d.path().join("expert.diff"), expert).unwrap();
        std::fs::write(
            d.path().join("task.toml"),
            format!(
                "id = \"t\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n{extra}\n[source]\npath = \"repo\"\n[expert]\npatch = \"expert.diff\"\n[[workloads]]\nname = \"a.b\"\ncommand = \"true\"\n"
            ),
        )
        .unwrap();
        let t = Task::load(d.path()).unwrap();
        (d, t)
    }

    const EXPERT: &str =
        "--- a/m.py\n+++ b/m.py\n@@ -1,3 +1,3 @@\n def f():\n-    return 1\n+    return 2\n \n";

    #[test]
    fn materialize_apply_diff_roundtrip() {
        let (d, t) = task_with_repo(&[("m.py", "def f():\n    return 1\n\n")], EXPERT, "");
        let tree = Tree::materialize(&t, &d.path().join("w/t1")).unwrap();
        let patch = tree.expert_patch(&t).unwrap();
        let out = tree.apply(&patch).unwrap();
        assert_eq!(
            out,
            ApplyOutcome::Applied {
                method: "git apply".into()
            }
        );
        let text = std::fs::read_to_string(tree.root.join("m.py")).unwrap();
        assert!(text.contains("return 2"));
        let diff = tree.diff().unwrap();
        assert!(diff.contains("+    return 2"), "{diff}");
        // A second tree takes the diff and ends up the same.
        let t2 = Tree::materialize(&t, &d.path().join("w/t2")).unwrap();
        assert!(matches!(
            t2.apply(&diff).unwrap(),
            ApplyOutcome::Applied { .. }
        ));
        assert_eq!(std::fs::read_to_string(t2.root.join("m.py")).unwrap(), text);
    }

    #[test]
    fn whitespace_damaged_patch_uses_a_fallback() {
        let (d, t) = task_with_repo(
            &[("m.py", "def f():\n    x = 0\n    y = 1\n    return 1\n\n")],
            EXPERT,
            "",
        );
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        // Context line indentation differs from the file: plain git apply refuses.
        // (The trailing blank context line keeps git from anchoring the hunk at the file's end.)
        let p = "--- a/m.py\n+++ b/m.py\n@@ -2,4 +2,4 @@\n   x = 0\n   y = 1\n-    return 1\n+    return 3\n \n";
        // Only the whitespace differs: the first fallback takes it.
        assert_eq!(
            tree.apply(p).unwrap(),
            ApplyOutcome::Applied {
                method: "git apply --ignore-space-change".into()
            }
        );
        assert!(std::fs::read_to_string(tree.root.join("m.py"))
            .unwrap()
            .contains("return 3"));
        assert_eq!(tree.changed_files().unwrap(), ["m.py"]);
    }

    /// Untracked files in a tree (what `git apply --reject` and `patch` leave behind).
    fn untracked(tree: &Tree) -> Vec<String> {
        git(
            &tree.root,
            &["ls-files", "--others", "--exclude-standard"],
            "listing",
        )
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(STATE_DIR))
        .map(str::to_string)
        .collect()
    }

    #[test]
    fn a_patch_with_stale_context_applies_with_fuzz_and_leaves_no_orig_or_rej() {
        let base = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\n";
        let (d, t) = task_with_repo(&[("m.py", base)], EXPERT, "");
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        // The first and last context lines are not in the file: every `git apply` refuses
        // (`--reject` leaves m.py.rej), `patch --fuzz` ignores them (and leaves m.py.orig).
        let p = "--- a/m.py\n+++ b/m.py\n@@ -2,5 +2,5 @@\n X = 0\n c = 3\n-d = 4\n+d = 40\n e = 5\n Y = 0\n";
        assert_eq!(
            tree.apply(p).unwrap(),
            ApplyOutcome::Applied {
                method: "patch --batch --fuzz=5 -p1".into()
            }
        );
        let text = std::fs::read_to_string(tree.root.join("m.py")).unwrap();
        assert_eq!(text, base.replace("d = 4", "d = 40"));
        assert_eq!(
            untracked(&tree),
            Vec::<String>::new(),
            "no .orig or .rej left"
        );
        assert_eq!(tree.changed_files().unwrap(), ["m.py"]);
        let diff = tree.diff().unwrap();
        assert!(!diff.contains(".orig") && !diff.contains(".rej"), "{diff}");
    }

    #[test]
    fn a_patch_that_fails_every_fallback_leaves_a_clean_tree() {
        let (d, t) = task_with_repo(&[("m.py", "a = 1\nb = 2\n")], EXPERT, "");
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        let p = "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n-zzz = 1\n+zzz = 2\n qqq = 2\n";
        match tree.apply(p).unwrap() {
            ApplyOutcome::Failed { reason } => {
                assert!(
                    reason.starts_with("patch --batch --fuzz=5 -p1: "),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            untracked(&tree),
            Vec::<String>::new(),
            "no .orig or .rej left"
        );
        assert_eq!(tree.diff().unwrap(), "");
    }

    #[test]
    fn garbage_patch_fails_with_reason_and_tree_stays_clean() {
        let (d, t) = task_with_repo(&[("m.py", "a\n")], EXPERT, "");
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        let out = tree
            .apply("--- a/nothere.py\n+++ b/nothere.py\n@@ -1 +1 @@\n-x\n+y\n")
            .unwrap();
        match out {
            ApplyOutcome::Failed { reason } => assert!(reason.contains("nothere.py"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(tree.diff().unwrap(), "");
    }

    #[test]
    fn protected_files_are_restored_and_additions_removed() {
        let (d, t) = task_with_repo(&[("m.py", "a\n"), ("tests/test_m.py", "ok\n")], EXPERT, "");
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        std::fs::write(tree.root.join("tests/test_m.py"), "hacked\n").unwrap();
        std::fs::write(tree.root.join("tests/new.py"), "new\n").unwrap();
        std::fs::write(tree.root.join("m.py"), "b\n").unwrap();
        tree.restore_protected(&["tests/**".into(), "bench/**".into()])
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(tree.root.join("tests/test_m.py")).unwrap(),
            "ok\n"
        );
        assert!(!tree.root.join("tests/new.py").exists());
        assert_eq!(
            std::fs::read_to_string(tree.root.join("m.py")).unwrap(),
            "b\n"
        );
    }

    #[test]
    fn path_components_never_climb() {
        assert_eq!(path_component("openai/gpt-5"), "openai_gpt-5");
        assert_eq!(path_component(".."), "_");
        assert_eq!(path_component(""), "_");
        assert_eq!(path_component("v1.2"), "v1.2");
    }

    #[test]
    fn an_ignored_file_planted_under_a_protected_path_is_removed() {
        let (d, t) = task_with_repo(
            &[
                ("m.py", "a\n"),
                (".gitignore", "*.pyc\n"),
                ("bench/run.py", "import random\n"),
            ],
            EXPERT,
            "",
        );
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        // A patch could add this ignored module, which `bench/run.py` would import.
        std::fs::write(tree.root.join("bench/random.pyc"), "fake timer").unwrap();
        std::fs::write(tree.root.join("kept.pyc"), "outside protected paths").unwrap();
        tree.restore_protected(&["bench/**".into()]).unwrap();
        assert!(!tree.root.join("bench/random.pyc").exists());
        assert!(tree.root.join("kept.pyc").exists());
    }

    #[test]
    fn git_source_from_local_path_with_rev_expression() {
        let d = tempfile::tempdir().unwrap();
        let up = d.path().join("upstream");
        std::fs::create_dir_all(&up).unwrap();
        let g = |args: &[&str]| {
            let s = Command::new("git")
                .arg("-C")
                .arg(&up)
                .args(args)
                .output()
                .unwrap();
            assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
            String::from_utf8_lossy(&s.stdout).trim().to_string()
        };
        g(&["init", "-q"]);
        g(&["config", "user.email", "a@b"]);
        g(&["config", "user.name", "a"]);
        std::fs::write(up.join("m.py"), "def f():\n    return 1\n\n").unwrap();
        g(&["add", "-A"]);
        g(&["commit", "-qm", "base"]);
        std::fs::write(up.join("m.py"), "def f():\n    return 2\n\n").unwrap();
        g(&["commit", "-qam", "fast"]);
        let fast = g(&["rev-parse", "HEAD"]);
        let task_dir = d.path().join("task");
        std::fs::create_dir_all(&task_dir).unwrap();
        std::fs::write(
            task_dir.join("task.toml"),
            format!("id = \"g\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\ngit = \"../upstream\"\nrev = \"{fast}^\"\n[expert]\nrev = \"{fast}\"\n[[workloads]]\nname = \"a.b\"\ncommand = \"true\"\n"),
        )
        .unwrap();
        let t = Task::load(&task_dir).unwrap();
        let tree = Tree::materialize(&t, &d.path().join("w")).unwrap();
        assert!(std::fs::read_to_string(tree.root.join("m.py"))
            .unwrap()
            .contains("return 1"));
        let p = tree.expert_patch(&t).unwrap();
        assert!(p.contains("+    return 2"));
        tree.apply(&p).unwrap();
        assert!(std::fs::read_to_string(tree.root.join("m.py"))
            .unwrap()
            .contains("return 2"));
    }

    /// An upstream repository with a base commit and a faster one; returns (dir, fast sha).
    fn upstream(at: &Path) -> String {
        std::fs::create_dir_all(at).unwrap();
        let g = |args: &[&str]| {
            let s = Command::new("git")
                .arg("-C")
                .arg(at)
                .args(args)
                .output()
                .unwrap();
            assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
            String::from_utf8_lossy(&s.stdout).trim().to_string()
        };
        g(&["init", "-q", "-b", "main"]);
        g(&["config", "user.email", "a@b"]);
        g(&["config", "user.name", "a"]);
        std::fs::write(at.join("m.py"), "def f():\n    return 1\n\n").unwrap();
        g(&["add", "-A"]);
        g(&["commit", "-qm", "base"]);
        std::fs::write(at.join("m.py"), "def f():\n    return 2\n\n").unwrap();
        g(&["commit", "-qam", "fast"]);
        g(&["rev-parse", "HEAD"])
    }

    fn remote_task(dir: &Path, url: &str, fast: &str) -> Task {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("task.toml"),
            format!("id = \"g\"\ninstruction = \"x\"\nlanguages = [\"python\"]\n[source]\ngit = \"{url}\"\nrev = \"{fast}^\"\n[expert]\nrev = \"{fast}\"\n[[workloads]]\nname = \"a.b\"\ncommand = \"true\"\n"),
        )
        .unwrap();
        Task::load(dir).unwrap()
    }

    fn bare_clone(from: &Path, to: &Path) {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let o = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// No cache: the network is never used, so these tests cannot reach it.
    fn offline(mirrors: &[&Path]) -> GitSources {
        GitSources {
            mirrors: mirrors.iter().map(|p| p.to_path_buf()).collect(),
            cache: None,
        }
    }

    #[test]
    fn a_github_source_is_cloned_from_a_bare_mirror_with_shared_objects() {
        let d = tempfile::tempdir().unwrap();
        let fast = upstream(&d.path().join("up"));
        let mirrors = d.path().join("mirrors");
        bare_clone(&d.path().join("up"), &mirrors.join("example/name.git"));
        let t = remote_task(
            &d.path().join("task"),
            "https://github.com/example/name",
            &fast,
        );
        let src = offline(&[&d.path().join("elsewhere"), &mirrors]);
        let tree = Tree::materialize_with(&t, &d.path().join("w/1"), &src).unwrap();
        assert!(std::fs::read_to_string(tree.root.join("m.py"))
            .unwrap()
            .contains("return 1"));
        let p = tree.expert_patch(&t).unwrap();
        assert!(p.contains("+    return 2"), "{p}");
        // Objects are borrowed from the mirror, not copied.
        let alt = std::fs::read_to_string(tree.root.join(".git/objects/info/alternates")).unwrap();
        assert!(alt.contains("mirrors/example/name.git"), "{alt}");
    }

    #[test]
    fn a_working_clone_serves_as_a_mirror_too() {
        let d = tempfile::tempdir().unwrap();
        let fast = upstream(&d.path().join("mirrors/example/name"));
        let t = remote_task(
            &d.path().join("task"),
            "git@github.com:example/name.git",
            &fast,
        );
        let src = offline(&[&d.path().join("mirrors")]);
        let tree = Tree::materialize_with(&t, &d.path().join("w"), &src).unwrap();
        assert!(tree.root.join("m.py").is_file());
    }

    #[test]
    fn without_a_usable_mirror_the_error_names_the_url_and_every_path_tried() {
        let d = tempfile::tempdir().unwrap();
        let fast = upstream(&d.path().join("up"));
        let m1 = d.path().join("m1");
        let m2 = d.path().join("m2");
        // Not a repository.
        std::fs::create_dir_all(m2.join("example/name")).unwrap();
        // A stale mirror: only the base commit.
        let stale = m2.join("example/name.git");
        bare_clone(&d.path().join("up"), &stale);
        let o = Command::new("git")
            .arg("-C")
            .arg(&stale)
            .args(["update-ref", "refs/heads/main", "main^"])
            .output()
            .unwrap();
        assert!(o.status.success());
        let o = Command::new("git")
            .arg("-C")
            .arg(&stale)
            .args([
                "-c",
                "gc.reflogExpire=now",
                "reflog",
                "expire",
                "--all",
                "--expire=now",
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        let o = Command::new("git")
            .arg("-C")
            .arg(&stale)
            .args(["gc", "-q", "--prune=now"])
            .output()
            .unwrap();
        assert!(o.status.success());
        // The base `<fast>^` is named through the fast commit, which the stale mirror lacks.
        let t = remote_task(
            &d.path().join("task"),
            "https://github.com/example/name",
            &fast,
        );
        let e = Tree::materialize_with(&t, &d.path().join("w"), &offline(&[&m1, &m2]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("https://github.com/example/name"), "{e}");
        for p in [
            format!("{} (absent)", m1.join("example/name").display()),
            format!("{} (absent)", m1.join("example/name.git").display()),
            format!(
                "{} (not a git repository)",
                m2.join("example/name").display()
            ),
            format!("{} (lacks revision", stale.display()),
        ] {
            assert!(e.contains(&p), "{p} not in {e}");
        }
        assert!(e.contains("OPTAGENT_OFFLINE"), "{e}");
        assert!(!d.path().join("w/m.py").exists());
    }

    #[test]
    fn a_url_without_a_mirror_is_cloned_once_into_the_cache_and_shared() {
        let d = tempfile::tempdir().unwrap();
        let fast = upstream(&d.path().join("srv/example/name"));
        let url = format!("file://{}", d.path().join("srv/example/name").display());
        let t = remote_task(&d.path().join("task"), &url, &fast);
        let cache = d.path().join("cache");
        let src = GitSources {
            mirrors: vec![],
            cache: Some(cache.clone()),
        };
        let a = Tree::materialize_with(&t, &d.path().join("w/a"), &src).unwrap();
        let b = Tree::materialize_with(&t, &d.path().join("w/b"), &src).unwrap();
        let cached = cache.join("example/name.git");
        assert!(cached.join("HEAD").is_file(), "a bare clone in the cache");
        for tree in [&a, &b] {
            let alt =
                std::fs::read_to_string(tree.root.join(".git/objects/info/alternates")).unwrap();
            assert!(alt.contains("cache/example/name.git"), "{alt}");
            assert!(tree.expert_patch(&t).unwrap().contains("+    return 2"));
        }
    }

    #[test]
    fn a_cloned_tree_shows_no_commit_after_its_base() {
        let d = tempfile::tempdir().unwrap();
        let fast = upstream(&d.path().join("mirrors/example/name"));
        // A branch and a tag that name the expert's commit, as upstream has.
        let o = Command::new("git")
            .arg("-C")
            .arg(d.path().join("mirrors/example/name"))
            .args(["tag", "v2"])
            .output()
            .unwrap();
        assert!(o.status.success());
        let t = remote_task(
            &d.path().join("task"),
            "https://github.com/example/name",
            "v2",
        );
        let src = offline(&[&d.path().join("mirrors")]);
        let tree = Tree::materialize_with(&t, &d.path().join("w"), &src).unwrap();
        let all = git(&tree.root, &["rev-list", "--all"], "test").unwrap();
        assert!(!all.contains(&fast), "{all}");
        assert_eq!(all.trim(), tree.base);
        // The expert, named by a tag that is gone from the tree, is still there to diff.
        assert!(tree.expert_patch(&t).unwrap().contains("+    return 2"));
    }
}
