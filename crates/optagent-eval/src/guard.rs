//! SWE-fficiency's guard: a patch's added lines may not reach into the interpreter's frames,
//! tracing or garbage collector to game a benchmark.

/// The constructs SWE-fficiency forbids in added lines.
pub const FORBIDDEN: &[&str] = &[
    "inspect.currentframe",
    "inspect.stack",
    "sys._getframe",
    "sys.settrace",
    "sys.setprofile",
    "gc.get_referrers",
    "gc.get_objects",
    "traceback.extract_stack",
    "traceback.format_stack",
    "traceback.print_stack",
    "traceback.walk_stack",
];

/// Each forbidden construct found in the patch's added lines, with the file it is in.
pub fn scan(patch: &str) -> Vec<String> {
    let mut file = String::new();
    let mut found = Vec::new();
    for line in patch.lines() {
        if let Some(f) = line.strip_prefix("+++ ") {
            file = f.trim_start_matches("b/").to_string();
            continue;
        }
        if let Some(added) = line.strip_prefix('+') {
            for f in FORBIDDEN {
                if added.contains(f) {
                    found.push(format!("{file}: adds `{f}`"));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_added_frame_hacks_only() {
        let p =
            "--- a/x.py\n+++ b/x.py\n@@ -1 +1,2 @@\n-import sys._getframe\n+f = sys._getframe(1)\n";
        let v = super::scan(p);
        assert_eq!(v, vec!["x.py: adds `sys._getframe`".to_string()]);
        assert!(super::scan("--- a/x\n+++ b/x\n-sys.settrace(None)\n").is_empty());
    }
}
