//! Test modules of the agent crate.

mod agent_loop;
mod judge;
