//! The model crate's integration tests, one binary (`mod suite`): the OpenAI-compatible client
//! over real HTTP, replay, spec and config parsing, and local servers' context windows.
//! `env_key.rs` and `keyless_env.rs` stay binaries of their own: they change the process
//! environment, which must happen before any other test thread exists; so does
//! `secret_logs.rs`, which captures the client's logs and needs no other thread to reach its log
//! call sites first.

mod suite;
