//! Keys and config read from the environment. This file holds a single test
//! so that it alone, in its own process, sets environment variables before
//! any other thread exists.
//! A test binary of its own, outside `all.rs` (`mod suite`), for that reason.

#[path = "suite/common.rs"]
mod common;

use common::user;
use optagent_model::{open_model, ModelError, ModelOptions, ProviderRegistry};
use optagent_testkit::{MockReply, MockServer};

const ENV_KEY: &str = "sk-env-key-0c4b1e7d55aa";

#[test]
fn keys_and_config_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("optagent.toml");
    // Set before the runtime (and its threads) start.
    std::env::set_var("OPTAGENT_TEST_ENV_KEY", ENV_KEY);
    std::env::set_var("OPTAGENT_TEST_EMPTY_KEY", "  ");
    std::env::set_var("OPTAGENT_CONFIG", &config);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = MockServer::start().await;
        std::fs::write(
            &config,
            format!(
                "[providers.envlab]\nbase_url = \"{}\"\nenv_key = \"OPTAGENT_TEST_ENV_KEY\"\nkey_required = true\n",
                server.url()
            ),
        )
        .unwrap();
        server.push_all([MockReply::text("a"), MockReply::text("b")]);

        // $OPTAGENT_CONFIG is found without config_path; env_key is read.
        let model = open_model("envlab/m", &ModelOptions::default()).unwrap();
        model.chat(&user("x")).await.unwrap();

        // --api-key-env picks another variable for a built-in provider.
        let o = ModelOptions {
            base_url: Some(server.url()),
            api_key_env: Some("OPTAGENT_TEST_ENV_KEY".into()),
            ..Default::default()
        };
        let model = open_model("openai/gpt-4o", &o).unwrap();
        model.chat(&user("x")).await.unwrap();

        let expected = Some(format!("Bearer {ENV_KEY}"));
        assert_eq!(server.authorizations(), [expected.clone(), expected]);

        // A blank variable counts as unset.
        let o = ModelOptions {
            api_key_env: Some("OPTAGENT_TEST_EMPTY_KEY".into()),
            ..Default::default()
        };
        let err = open_model("openai/gpt-4o", &o).err().unwrap();
        assert!(
            matches!(&err, ModelError::MissingApiKey { var, .. } if var == "OPTAGENT_TEST_EMPTY_KEY"),
            "{err:?}"
        );

        // ignore_user_config does not skip an explicitly named file.
        let o = ModelOptions {
            ignore_user_config: true,
            ..Default::default()
        };
        assert!(ProviderRegistry::load(&o)
            .unwrap()
            .provider_names()
            .contains(&"envlab".to_owned()));
    });
}
