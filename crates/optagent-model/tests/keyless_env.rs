//! A keyless local provider (vLLM) sends no Authorization header when its variable is unset.
//! This file holds a single test, in its own process, so that it can clear `VLLM_API_KEY` before
//! any other thread exists: a developer who has it set (to reach a real vLLM) sees the test pass.
//! A test binary of its own, outside `all.rs` (`mod suite`), for that reason.

#[path = "suite/common.rs"]
mod common;

use common::user;
use optagent_model::{open_model, ModelOptions};
use optagent_testkit::{MockReply, MockServer};

#[test]
fn keyless_local_provider_sends_no_authorization() {
    // Set before the runtime (and its threads) start.
    std::env::remove_var("VLLM_API_KEY");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = MockServer::start().await;
        server.push(MockReply::text("a"));
        let o = ModelOptions {
            base_url: Some(server.url()),
            ignore_user_config: true,
            ..Default::default()
        };
        let model = open_model("vllm/Qwen/Qwen2.5-Coder-7B-Instruct", &o).unwrap();
        model.chat(&user("hi")).await.unwrap();
        assert_eq!(server.authorizations(), [None]);
        assert_eq!(model.info().model, "Qwen/Qwen2.5-Coder-7B-Instruct");
        assert_eq!(
            server.requests()[0]["model"],
            "Qwen/Qwen2.5-Coder-7B-Instruct"
        );
    });
}
