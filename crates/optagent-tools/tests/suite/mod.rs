//! Test modules of the tools crate.

mod common {
    //! Helpers shared with `examples/profile_figures.rs`.
    pub mod expert_profiles;
}
mod expert_profiles;
mod tools;
