//! The API key never appears in Debug output, errors, or logs, even when a
//! provider echoes it back.
//! A test binary of its own, outside `all.rs` (`mod suite`): it captures every log line of the
//! client through a thread-local subscriber, and `tracing` caches whether a log call site is
//! wanted per process; a test on another thread that reached the retry log first (with no
//! subscriber) made this test miss its "retrying" line (a CI failure). Alone in its process, no
//! other thread reaches those call sites.

#[path = "suite/common.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{opts, user, TEST_KEY};
use optagent_model::{open_model, OpenAiCompatModel, ProviderRegistry};
use optagent_testkit::{MockReply, MockServer};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn key_is_absent_from_debug_errors_and_logs() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Everything (client, hyper, mock server) runs on this thread, so the
    // thread-local subscriber sees all of it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut seen = Vec::new();
    rt.block_on(async {
        let server = MockServer::start().await;
        server.push(MockReply::error(
            429,
            format!("key {TEST_KEY} is rate limited"),
        ));
        server.push(MockReply::error(
            401,
            format!("Incorrect API key provided: {TEST_KEY}"),
        ));
        let o = opts(&server);
        seen.push(format!("{o:?}"));

        let model = OpenAiCompatModel::open("openai/gpt-4o", &o).unwrap();
        seen.push(format!("{model:?}"));
        let resolved = ProviderRegistry::builtin()
            .resolve("openai/gpt-4o", &o)
            .unwrap();
        seen.push(format!("{resolved:?}"));
        let key = resolved.api_key(&o).unwrap();
        seen.push(format!("{key:?}"));

        let dynamic = open_model("openai/gpt-4o", &o).unwrap();
        let err = dynamic.chat(&user("hi")).await.unwrap_err();
        seen.push(err.to_string());
        seen.push(format!("{err:?}"));
        assert!(err.to_string().contains("[REDACTED]"), "{err}");
        // The key was really sent.
        assert_eq!(
            server.authorizations()[0].as_deref(),
            Some(format!("Bearer {TEST_KEY}").as_str())
        );
    });

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying"),
        "retry attempts are logged:\n{logs}"
    );
    seen.push(logs);
    for s in &seen {
        assert!(!s.contains(TEST_KEY), "key leaked in: {s}");
        assert!(!s.contains("SECRET-6f1d"), "key fragment leaked in: {s}");
    }
}
