//! The tools crate's integration tests, one binary (`mod suite`): every tool through the
//! registry on real files, and the profiling acceptance check on the bundled tasks' experts.

mod suite;
