//! Model spec parsing, the built-in provider table, and user config files
//! (overrides, new providers, malformed files), through `open_model`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::common::{user, TEST_KEY};
use optagent_model::{
    open_model, ApiKey, ModelError, ModelOptions, ModelSpec, Pricing, ProviderRegistry,
};
use optagent_testkit::{MockReply, MockServer};

fn hermetic() -> ModelOptions {
    ModelOptions {
        ignore_user_config: true,
        api_key: Some(ApiKey::new(TEST_KEY)),
        ..Default::default()
    }
}

fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

fn with_config(path: &Path) -> ModelOptions {
    ModelOptions {
        config_path: Some(path.to_path_buf()),
        ..hermetic()
    }
}

#[test]
fn specs_split_at_the_first_slash() {
    assert_eq!(
        ModelSpec::parse("openrouter/anthropic/claude-sonnet-4").unwrap(),
        ModelSpec::Provider {
            provider: "openrouter".into(),
            model: "anthropic/claude-sonnet-4".into()
        }
    );
    assert_eq!(
        ModelSpec::parse("vllm/Qwen/Qwen2.5-Coder-32B-Instruct").unwrap(),
        ModelSpec::Provider {
            provider: "vllm".into(),
            model: "Qwen/Qwen2.5-Coder-32B-Instruct".into()
        }
    );
    assert_eq!(
        ModelSpec::parse("replay:runs/7/trajectory.jsonl").unwrap(),
        ModelSpec::Replay("runs/7/trajectory.jsonl".into())
    );
    for bad in ["gpt-4o", "/gpt-4o", "openai/", "", "replay:"] {
        let err = ModelSpec::parse(bad).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidSpec { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("expected `"), "{err}");
    }
}

#[test]
fn openrouter_nested_model_names_resolve() {
    let model = open_model("openrouter/anthropic/claude-sonnet-4", &hermetic()).unwrap();
    let info = model.info();
    assert_eq!(info.id, "openrouter/anthropic/claude-sonnet-4");
    assert_eq!(info.provider, "openrouter");
    assert_eq!(info.model, "anthropic/claude-sonnet-4");
    assert_eq!(info.context_window, 200_000);
    assert_eq!(info.pricing.input_per_mtok, 3.0);
    assert_eq!(info.pricing.output_per_mtok, 15.0);

    let r = ProviderRegistry::builtin()
        .resolve("openrouter/anthropic/claude-sonnet-4", &hermetic())
        .unwrap();
    assert_eq!(r.base_url, "https://openrouter.ai/api/v1");
    assert_eq!(r.env_key.as_deref(), Some("OPENROUTER_API_KEY"));
}

#[tokio::test]
async fn openrouter_model_name_is_sent_whole() {
    let server = MockServer::start().await;
    server.push(MockReply::text("hi"));
    let o = ModelOptions {
        base_url: Some(server.url()),
        ..hermetic()
    };
    let model = open_model("openrouter/anthropic/claude-sonnet-4", &o).unwrap();
    model.chat(&user("x")).await.unwrap();
    assert_eq!(server.requests()[0]["model"], "anthropic/claude-sonnet-4");
}

#[test]
fn builtin_providers_have_the_documented_endpoints_and_keys() {
    let r = ProviderRegistry::builtin();
    let expect = [
        (
            "openai",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            true,
        ),
        (
            "anthropic",
            "https://api.anthropic.com/v1/",
            "ANTHROPIC_API_KEY",
            true,
        ),
        (
            "openrouter",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            true,
        ),
        (
            "deepseek",
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
            true,
        ),
        ("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", false),
        (
            "llamacpp",
            "http://localhost:8080/v1",
            "LLAMACPP_API_KEY",
            false,
        ),
        (
            "ollama",
            "http://localhost:11434/v1",
            "OLLAMA_API_KEY",
            false,
        ),
    ];
    for (p, url, key, required) in expect {
        let m = r.resolve(&format!("{p}/m"), &hermetic()).unwrap();
        assert_eq!(m.base_url, url, "{p}");
        assert_eq!(m.env_key.as_deref(), Some(key), "{p}");
        assert_eq!(m.key_required, required, "{p}");
        assert!(m.max_retries > 0 && !m.timeout.is_zero(), "{p}");
    }
}

#[test]
fn unknown_provider_lists_the_known_ones() {
    let err = open_model("foo/bar", &hermetic()).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("unknown provider `foo`"), "{msg}");
    for p in [
        "anthropic",
        "deepseek",
        "llamacpp",
        "ollama",
        "openai",
        "openrouter",
        "vllm",
    ] {
        assert!(msg.contains(p), "{p} missing from: {msg}");
    }
}

#[test]
fn missing_key_names_the_variable() {
    // A provider defined in config, whose variable nobody sets.
    let (_d, path) = write_config(
        r#"
[providers.corp]
base_url = "https://llm.corp.example/v1"
env_key = "OPTAGENT_TEST_UNSET_CORP_KEY"
key_required = true
"#,
    );
    let o = ModelOptions {
        config_path: Some(path),
        ignore_user_config: true,
        ..Default::default()
    };
    let err = open_model("corp/big", &o).err().unwrap();
    assert!(
        matches!(&err, ModelError::MissingApiKey { var, .. } if var == "OPTAGENT_TEST_UNSET_CORP_KEY")
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "OPTAGENT_TEST_UNSET_CORP_KEY is not set: export it, or pass --api-key-env NAME"
        ),
        "{msg}"
    );

    // --api-key-env names a variable that is not set: required even for a
    // keyless provider.
    let o = ModelOptions {
        ignore_user_config: true,
        api_key_env: Some("OPTAGENT_TEST_UNSET_FLAG_KEY".into()),
        ..Default::default()
    };
    let err = open_model("vllm/m", &o).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("OPTAGENT_TEST_UNSET_FLAG_KEY is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn config_file_overrides_fields_and_adds_providers() {
    let server = MockServer::with_handler(|_| MockReply::status(503, "busy")).await;
    let (_d, path) = write_config(&format!(
        r#"
# other optagent sections are ignored here
[agent]
max_steps = 50

[provider_defaults]
max_retries = 1

[providers.openai.models."gpt-4o"]
input_per_mtok = 2.0

[providers.openai.models."my-finetune"]
context_window = 16384
input_per_mtok = 3.0
output_per_mtok = 12.0

[providers.mylab]
base_url = "{}"
key_required = false
context_window = 65536
"#,
        server.url()
    ));
    let o = with_config(&path);

    // Only the overridden field changes.
    let m = open_model("openai/gpt-4o", &o).unwrap();
    assert_eq!(
        m.info().pricing,
        Pricing {
            input_per_mtok: 2.0,
            output_per_mtok: 10.0,
            cached_input_per_mtok: 1.25
        }
    );
    // A new model: its cached price defaults to its input price.
    let m = open_model("openai/my-finetune", &o).unwrap();
    assert_eq!(m.info().context_window, 16384);
    assert_eq!(m.info().pricing.cached_input_per_mtok, 3.0);

    // A new provider, with provider_defaults.max_retries = 1 => 2 attempts.
    let m = open_model("mylab/llama-70b", &o).unwrap();
    assert_eq!(m.info().context_window, 65536);
    assert_eq!(m.info().pricing, Pricing::default());
    let err = m.chat(&user("x")).await.unwrap_err();
    assert!(err.to_string().contains("2 attempts"), "{err}");
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.requests()[0]["model"], "llama-70b");

    // The unknown-provider list includes providers from the config.
    let err = open_model("nope/x", &o).err().unwrap();
    assert!(err.to_string().contains("mylab"), "{err}");

    // CLI options beat the config.
    let o2 = ModelOptions {
        max_retries: Some(0),
        ..with_config(&path)
    };
    let m = open_model("mylab/llama-70b", &o2).unwrap();
    let err = m.chat(&user("x")).await.unwrap_err();
    assert!(err.to_string().contains("1 attempt;"), "{err}");
}

fn config_error(text: &str) -> (String, PathBuf, tempfile::TempDir) {
    let (d, path) = write_config(text);
    let err = open_model("openai/gpt-4o", &with_config(&path))
        .err()
        .expect("config should be rejected");
    assert!(matches!(err, ModelError::Config { .. }), "{err:?}");
    (err.to_string(), path, d)
}

#[test]
fn malformed_config_names_the_file_and_the_field() {
    let (msg, path, _d) = config_error("[providers.openai]\nmax_retries = \"three\"\n");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("providers.openai.max_retries"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");

    let (msg, ..) = config_error("[providers.openai]\nbase_ur = \"https://x/v1\"\n");
    assert!(msg.contains("base_ur"), "{msg}");

    let (msg, ..) =
        config_error("[providers.openai.models.\"gpt-4o\"]\ninput_per_mtok = \"cheap\"\n");
    assert!(
        msg.contains("providers.openai.models.gpt-4o.input_per_mtok"),
        "{msg}"
    );

    let (msg, path, _d) = config_error("[providers.openai\n");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("invalid TOML") && msg.contains("line 1"),
        "{msg}"
    );

    let (msg, ..) = config_error("[providers.newco]\nenv_key = \"NEWCO_KEY\"\n");
    assert!(
        msg.contains("providers.newco.base_url") && msg.contains("required"),
        "{msg}"
    );

    let (msg, ..) = config_error("[providers.openai]\nbase_url = \"not a url\"\n");
    assert!(msg.contains("providers.openai.base_url"), "{msg}");

    let (msg, ..) = config_error("[providers.openai]\ntimeout_secs = -1\n");
    assert!(msg.contains("providers.openai.timeout_secs"), "{msg}");

    let (msg, ..) = config_error("[providers.openai]\nmax_tokens_field = \"tokens\"\n");
    assert!(msg.contains("providers.openai.max_tokens_field"), "{msg}");
}

#[test]
fn missing_config_file_is_an_error_when_named() {
    let o = ModelOptions {
        config_path: Some("/nonexistent/optagent/config.toml".into()),
        ..hermetic()
    };
    let err = open_model("openai/gpt-4o", &o).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/optagent/config.toml") && msg.contains("not found"),
        "{msg}"
    );
}

#[test]
fn invalid_base_url_option_is_rejected() {
    let o = ModelOptions {
        base_url: Some("localhost:8000".into()),
        ..hermetic()
    };
    let err = open_model("vllm/m", &o).err().unwrap();
    assert!(err.to_string().contains("--base-url"), "{err}");
}
