//! The sandbox crate's integration tests, one binary (`mod suite`): the Docker backend against
//! a real engine (each test skips, saying why, when none is reachable).

mod suite;
