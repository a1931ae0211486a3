//! The testkit's integration tests, one binary (`mod suite`): the mock server over real HTTP.
//! `skip.rs` stays a binary of its own: it sets `$OPTAGENT_SKIP_LOG` for its process.

mod suite;
