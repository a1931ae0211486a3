//! The solve crate's tests, one binary (`mod suite`): selection's rules on synthetic reports,
//! sweep configs, and sweeps against the mock model server.

mod suite;
