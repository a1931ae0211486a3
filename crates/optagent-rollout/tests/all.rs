//! The rollout crate's tests, one binary (`mod suite`): selection's rules on synthetic reports,
//! and sweeps against the mock model server.

mod suite;
