//! `perf script` text (from `perf record -g`) folded with inferno's perf collapser. Frames are
//! function names (`[unknown]` where perf could not symbolize); the first frame is the command
//! name. perf script prints each sample's period (nanoseconds of CPU time for `cpu-clock`) and
//! the collapser weighs samples by it, so costs are nanoseconds.
//!
//! Functions of programs in the tree get their source location: [`symbol_starts`] finds each
//! symbol's start address in the script's `ip symbol+offset (object)` lines, `addr2line -f`
//! (run by the caller, in the sandbox) turns them into `file:line`, and [`add_locations`] names
//! the frames `function (file:line)`.

use inferno::collapse::Collapse;

use super::{Folded, ProfileDataError};

/// Folded stacks from `perf script` output.
pub fn fold_script(script: &[u8]) -> Result<Folded, ProfileDataError> {
    let mut opts = inferno::collapse::perf::Options::default();
    opts.nthreads = 1;
    let mut folder = inferno::collapse::perf::Folder::from(opts);
    let mut out = Vec::new();
    folder
        .collapse(script, &mut out)
        .map_err(ProfileDataError::PerfFold)?;
    Ok(Folded::parse(&String::from_utf8_lossy(&out), "nanoseconds"))
}

/// Per object under `root` (the tree's root as the profiled command saw it): the start address
/// of each symbol sampled in it, from `perf script` lines `ip symbol+0xoff (object)`.
pub fn symbol_starts(
    script: &[u8],
    root: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> {
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    let root = format!("{}/", root.trim_end_matches('/'));
    for line in String::from_utf8_lossy(script).lines() {
        let t = line.trim();
        let Some((ip, rest)) = t.split_once(' ') else {
            continue;
        };
        let Some((symoff, obj)) = rest.rsplit_once(" (") else {
            continue;
        };
        let obj = obj.trim_end_matches(')');
        if !obj.starts_with(&root) {
            continue;
        }
        let Some((sym, off)) = symoff.rsplit_once("+0x") else {
            continue;
        };
        let (Ok(ip), Ok(off)) = (u64::from_str_radix(ip, 16), u64::from_str_radix(off, 16)) else {
            continue;
        };
        if let Some(start) = ip.checked_sub(off) {
            out.entry(obj.to_string())
                .or_default()
                .insert(sym.to_string(), start);
        }
    }
    out
}

/// `addr2line -f` output (function line, `file:line` line, per address) for `symbols` (in the
/// order asked) → symbol → `file:line`, files relative to `root`; unknown places are skipped.
pub fn parse_addr2line(
    text: &str,
    symbols: &[String],
    root: Option<&str>,
) -> std::collections::HashMap<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = std::collections::HashMap::new();
    for (sym, pair) in symbols.iter().zip(lines.chunks(2)) {
        let Some(place) = pair.get(1) else { break };
        let place = place
            .split(" (discriminator")
            .next()
            .unwrap_or(place)
            .trim();
        let Some((file, line)) = place.rsplit_once(':') else {
            continue;
        };
        if file.starts_with('?') || line.parse::<u64>().map_or(true, |l| l == 0) {
            continue;
        }
        let file = super::callgrind::relativize(file, root);
        out.insert(sym.clone(), format!("{}:{line}", super::clean_frame(&file)));
    }
    out
}

/// Frames that are a symbol of `places` become `symbol (file:line)`.
pub fn add_locations(f: &mut Folded, places: &std::collections::HashMap<String, String>) {
    if places.is_empty() {
        return;
    }
    let stacks = std::mem::take(&mut f.stacks);
    for (stack, n) in stacks {
        let renamed: Vec<String> = stack
            .split(';')
            .map(|fr| match places.get(fr) {
                Some(loc) => format!("{fr} ({loc})"),
                None => fr.to_string(),
            })
            .collect();
        f.add(&renamed.join(";"), n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_perf_script_text() {
        let script = "prog 100 1.000: 1000000 cpu-clock:u: \n\
\t    5555 hot_function+0x10 (/tmp/prog)\n\
\t    6666 main+0x20 (/tmp/prog)\n\
\t    7777 __libc_start_main+0x80 (/usr/lib/libc.so.6)\n\
\n\
prog 100 1.001: 1000000 cpu-clock:u: \n\
\t    5555 hot_function+0x10 (/tmp/prog)\n\
\t    6666 main+0x20 (/tmp/prog)\n\
\t    7777 __libc_start_main+0x80 (/usr/lib/libc.so.6)\n\
\n";
        let f = fold_script(script.as_bytes()).unwrap();
        assert_eq!(f.total(), 2_000_000);
        let top = &f.hot_frames()[0];
        assert_eq!(top.name, "hot_function");

        let starts = symbol_starts(script.as_bytes(), "/tmp");
        assert_eq!(starts["/tmp/prog"]["hot_function"], 0x5555 - 0x10);
        assert_eq!(starts["/tmp/prog"]["main"], 0x6666 - 0x20);
        assert!(!starts.contains_key("/usr/lib/libc.so.6"));
        let syms = vec!["hot_function".to_string(), "main".to_string()];
        let places = parse_addr2line(
            "hot_function\n/tmp/src/hot.c:12\nmain\n??:0\n",
            &syms,
            Some("/tmp"),
        );
        assert_eq!(places.len(), 1);
        let mut f = f;
        add_locations(&mut f, &places);
        assert_eq!(f.hot_frames()[0].frame, "hot_function (src/hot.c:12)");
    }
}
