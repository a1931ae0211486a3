//! The agent crate's integration tests, one binary (`mod suite`): the loop against the mock
//! model server (budgets, warnings, shortening old tool outputs) and the LLM judge.

mod suite;
