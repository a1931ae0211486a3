//! Test modules of the testkit.

mod mock_http;
