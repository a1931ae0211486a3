//! `perf script` text (from `perf record -g`) folded with inferno's perf collapser. Frames are
//! function names (`[unknown]` where perf could not symbolize); the first frame is the command
//! name. perf script prints each sample's period (nanoseconds of CPU time for `cpu-clock`) and
//! the collapser weighs samples by it, so costs are nanoseconds.

use inferno::collapse::Collapse;

use super::Folded;

/// Folded stacks from `perf script` output.
pub fn fold_script(script: &[u8]) -> Result<Folded, String> {
    let mut opts = inferno::collapse::perf::Options::default();
    opts.nthreads = 1;
    let mut folder = inferno::collapse::perf::Folder::from(opts);
    let mut out = Vec::new();
    folder
        .collapse(script, &mut out)
        .map_err(|e| format!("cannot fold perf script output: {e}"))?;
    Ok(Folded::parse(&String::from_utf8_lossy(&out), "nanoseconds"))
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
    }
}
