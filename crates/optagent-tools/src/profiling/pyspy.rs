//! py-spy's `--format raw` output: folded stacks whose frames are `function (file:line)`. With
//! `--subprocesses` each stack starts with `process <pid>:"<command line>"` frames; those are
//! dropped so that stacks from different runs (and trees) compare. py-spy runs with
//! `--full-filenames`; paths are then shown relative to the tree's root (or from the package on,
//! see `super::short_python_path`).

use super::{short_python_path, split_frame, Folded};

/// Folded stacks from py-spy's raw output; `root` is the tree's root as py-spy saw it.
pub fn parse_raw(text: &str, root: Option<&str>) -> Folded {
    let mut f = Folded::new("samples");
    for line in text.lines() {
        let Some((stack, n)) = super::split_folded_line(line) else {
            continue;
        };
        let frames: Vec<String> = stack
            .split(';')
            .filter(|fr| !is_process_frame(fr))
            .map(|fr| match split_frame(fr) {
                (name, Some(loc)) => match loc.rsplit_once(':') {
                    Some((file, line)) => {
                        format!("{name} ({}:{line})", short_python_path(file, root))
                    }
                    None => fr.to_string(),
                },
                _ => fr.to_string(),
            })
            .collect();
        if frames.is_empty() {
            continue;
        }
        f.add(&frames.join(";"), n);
    }
    f
}

fn is_process_frame(frame: &str) -> bool {
    frame
        .strip_prefix("process ")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(pid, _)| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_process_frames() {
        let raw = "process 12:\"sh -c python3 a.py\";process 13:\"python3 a.py\";<module> (/w/a.py:1);hot (/w/a.py:3) 40\n\
                   process 13:\"python3 a.py\";<module> (/w/a.py:1) 2\n\
                   garbage\n";
        let f = parse_raw(raw, Some("/w"));
        assert_eq!(f.stacks.get("<module> (a.py:1);hot (a.py:3)"), Some(&40));
        assert_eq!(f.total(), 42);
    }
}
