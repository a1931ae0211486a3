//! The sweep config: the example parses; every error names the file, line and field.

use std::path::Path;

use optagent_solve::sweep_config::{ConfigError, DEFAULT_AGENT, DEFAULT_CONCURRENCY};
use optagent_solve::SweepConfig;

const GOOD: &str = r#"
name = "t"
tasks = ["../tasks/pyroute"]
k = 2
max_cost_usd = 5.0
output = "out"

[[models]]
model = "openai/gpt-5-mini"

[[models]]
model = "openrouter/anthropic/claude-sonnet-4"
temperature = 0.5

[[budgets]]
label = "steps10"
max_steps = 10
"#;

fn err(text: &str) -> (String, Option<usize>, String) {
    match SweepConfig::parse(text, Path::new("sweep.toml")).unwrap_err() {
        ConfigError::Invalid {
            path,
            line,
            field,
            message,
        } => {
            assert_eq!(path, Path::new("sweep.toml"));
            (field, line, message)
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn example_config_loads() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../evals/sweep-example.toml");
    let cfg = SweepConfig::load(&path).unwrap();
    assert_eq!(cfg.k, 4);
    assert_eq!(cfg.models.len(), 2);
    assert_eq!(cfg.models[0].model, "openai/gpt-5-mini");
    assert_eq!(cfg.models[0].provider(), "openai");
    assert_eq!(cfg.budgets[0].label, "steps50");
    assert_eq!(cfg.concurrency, 2);
    assert!(cfg.max_cost_usd > 0.0);
    for dir in cfg.task_dirs() {
        assert!(dir.join("task.toml").is_file(), "{}", dir.display());
    }
    assert_eq!(cfg.total_rollouts(), 3 * 2 * 4);
}

#[test]
fn defaults_apply() {
    let cfg = SweepConfig::parse(GOOD, Path::new("sweep.toml")).unwrap();
    assert_eq!(cfg.agent, DEFAULT_AGENT);
    assert_eq!(cfg.concurrency, DEFAULT_CONCURRENCY);
    assert_eq!(cfg.models[1].provider(), "openrouter");
    assert_eq!(cfg.models[1].model_name(), "anthropic/claude-sonnet-4");
    assert_eq!(cfg.models[1].temperature, Some(0.5));
    assert_eq!(cfg.budgets[0].max_tokens, None);
}

#[test]
fn errors_name_the_field_and_line() {
    // Wrong type, nested: the path says which model.
    let (field, line, msg) = err(&GOOD.replace("temperature = 0.5", "temperature = \"hot\""));
    assert_eq!(field, "models[1].temperature");
    assert_eq!(line, Some(13));
    assert!(msg.contains("invalid type"), "{msg}");
    // Missing required field.
    let (field, _, msg) = err(&GOOD.replace("k = 2\n", ""));
    assert_eq!(field, "k");
    assert!(msg.contains("missing field"), "{msg}");
    // Missing nested field.
    let (field, _, _) = err(&GOOD.replace("max_steps = 10\n", ""));
    assert_eq!(field, "budgets[0].max_steps");
    // Unknown key (a typo).
    let (field, line, msg) = err(&GOOD.replace("max_steps = 10", "max_step = 10"));
    assert_eq!(field, "budgets[0].max_step");
    assert_eq!(line, Some(17));
    assert!(msg.contains("unknown field"), "{msg}");
    // Validation after parsing.
    let (field, line, _) = err(&GOOD.replace("k = 2", "k = 0"));
    assert_eq!((field.as_str(), line), ("k", Some(4)));
    let (field, line, msg) = err(&GOOD.replace("temperature = 0.5", "temperature = 3.0"));
    assert_eq!((field.as_str(), line), ("models[1].temperature", Some(13)));
    assert!(msg.contains("outside"), "{msg}");
    let (field, line, msg) = err(&GOOD.replace("\"openai/gpt-5-mini\"", "\"gpt-5-mini\""));
    assert_eq!((field.as_str(), line), ("models[0].model", Some(9)));
    assert!(msg.contains("provider/model"), "{msg}");
    let (field, _, _) = err(&GOOD.replace("max_cost_usd = 5.0", "max_cost_usd = -1.0"));
    assert_eq!(field, "max_cost_usd");
    // Syntax error: the line.
    let (field, line, _) = err(&GOOD.replace("k = 2", "k = = 2"));
    assert_eq!((field.as_str(), line), ("<syntax>", Some(4)));
    // The message shows file, line and field together.
    let e = SweepConfig::parse(&GOOD.replace("k = 2", "k = 0"), Path::new("evals/s.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("evals/s.toml:4: k: "), "{e}");
}

#[test]
fn missing_file_names_it() {
    let e = SweepConfig::load("/nonexistent/sweep.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/sweep.toml"), "{e}");
}

#[test]
fn a_judge_and_its_votes_are_read_and_checked() {
    let cfg = SweepConfig::parse(GOOD, Path::new("sweep.toml")).unwrap();
    assert_eq!((cfg.judge.as_deref(), cfg.judge_votes), (None, None));
    let text = GOOD.replace(
        "output = \"out\"",
        "output = \"out\"\njudge = \"openai/gpt-5\"\njudge_votes = 5",
    );
    let cfg = SweepConfig::parse(&text, Path::new("sweep.toml")).unwrap();
    assert_eq!(cfg.judge.as_deref(), Some("openai/gpt-5"));
    assert_eq!(cfg.judge_votes, Some(5));
    let (field, _, message) =
        err(&GOOD.replace("output = \"out\"", "output = \"out\"\njudge = \"gpt5\""));
    assert_eq!(field, "judge");
    assert!(message.contains("provider/model"), "{message}");
    let (field, _, message) =
        err(&GOOD.replace("output = \"out\"", "output = \"out\"\njudge_votes = 0"));
    assert_eq!(field, "judge_votes");
    assert!(message.contains("at least 1"), "{message}");
}
