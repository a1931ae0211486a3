//! Tool calls written as text. Many open models, served without a tool-call parser, write their
//! calls into the message: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Hermes,
//! Qwen), a fenced ```json block, or a bare `{"name": ..., "arguments": ...}` object. When a reply
//! has no structured tool calls, [`parse`] finds these so the rollout can run them; the loop
//! records that it did (a `text_tool_calls` event with the raw text).

use optagent_model::ToolCall;
use serde_json::Value;

/// Where a call was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Inside `<tool_call>...</tool_call>`.
    Tagged,
    /// Inside a fenced code block.
    Fenced,
    /// A bare JSON object in the prose.
    Bare,
}

impl Form {
    /// One word for the trajectory.
    pub fn as_str(&self) -> &'static str {
        match self {
            Form::Tagged => "tool_call_tag",
            Form::Fenced => "fenced_json",
            Form::Bare => "bare_json",
        }
    }
}

/// The tool calls written in `content`, in order, with ids `text_call_<step>_<i>`. Calls inside
/// `<tool_call>` tags are taken whatever their name (a wrong name is told to the model as
/// usual); fenced and bare objects only when they name one of `known` tools, so JSON quoted in
/// prose is not run by mistake. Returns the form of the first call found.
pub fn parse(content: &str, known: &[String], step: usize) -> (Vec<ToolCall>, Option<Form>) {
    let mut found: Vec<(String, String)> = vec![];
    let mut form = None;
    // 1. <tool_call> ... </tool_call>
    let mut rest = content;
    while let Some(i) = rest.find("<tool_call>") {
        let after = &rest[i + "<tool_call>".len()..];
        let (inner, next) = match after.find("</tool_call>") {
            Some(j) => (&after[..j], &after[j + "</tool_call>".len()..]),
            None => (after, ""),
        };
        for v in json_values(inner) {
            if let Some(c) = call_of(&v) {
                found.push(c);
            }
        }
        rest = next;
    }
    if !found.is_empty() {
        form = Some(Form::Tagged);
    }
    // 2. fenced blocks
    if found.is_empty() {
        for block in fenced_blocks(content) {
            for v in json_values(block) {
                if let Some(c) = call_of(&v).filter(|c| known.contains(&c.0)) {
                    found.push(c);
                }
            }
        }
        if !found.is_empty() {
            form = Some(Form::Fenced);
        }
    }
    // 3. bare objects
    if found.is_empty() {
        for v in json_values(content) {
            if let Some(c) = call_of(&v).filter(|c| known.contains(&c.0)) {
                found.push(c);
            }
        }
        if !found.is_empty() {
            form = Some(Form::Bare);
        }
    }
    let calls = found
        .into_iter()
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall {
            id: format!("text_call_{step}_{i}"),
            name,
            arguments,
        })
        .collect();
    (calls, form)
}

/// `(name, arguments text)` of a call object: `{"name", "arguments"|"parameters"}`, or the same
/// under `"function"`. A list of such objects is not a call (its items are, see [`json_values`]).
fn call_of(v: &Value) -> Option<(String, String)> {
    let o = v.as_object()?;
    if let Some(f) = o.get("function").filter(|f| f.is_object()) {
        return call_of(f);
    }
    let name = o.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let args = o.get("arguments").or_else(|| o.get("parameters"));
    let arguments = match args {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other @ Value::Object(_)) => other.to_string(),
        Some(_) => return None,
    };
    Some((name.to_string(), arguments))
}

/// Every top-level JSON object (or array of objects, flattened) in `text`, scanning from each
/// `{` or `[` that starts a complete value.
fn json_values(text: &str) -> Vec<Value> {
    let mut out = vec![];
    let mut i = 0;
    while i < text.len() {
        let Some(off) = text[i..].find(['{', '[']) else {
            break;
        };
        let start = i + off;
        let mut it = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => {
                let used = it.byte_offset();
                match v {
                    Value::Array(items) => out.extend(items.into_iter().filter(Value::is_object)),
                    v @ Value::Object(_) => out.push(v),
                    _ => {}
                }
                i = start + used.max(1);
            }
            _ => i = start + 1,
        }
    }
    out
}

/// The bodies of fenced code blocks (``` with any info string).
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("```") {
        let after = &rest[i + 3..];
        let body_start = after.find('\n').map_or(after.len(), |n| n + 1);
        let body = &after[body_start..];
        match body.find("```") {
            Some(j) => {
                out.push(&body[..j]);
                rest = &body[j + 3..];
            }
            None => {
                out.push(body);
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        vec!["view".into(), "submit".into()]
    }

    #[test]
    fn tagged_calls_are_parsed_whatever_the_name() {
        let t = "I will look.\n<tool_call>\n{\"name\": \"view\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>\n<tool_call>{\"name\": \"frob\", \"arguments\": \"{}\"}</tool_call>";
        let (calls, form) = parse(t, &known(), 3);
        assert_eq!(form, Some(Form::Tagged));
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name, "view");
        assert_eq!(calls[0].id, "text_call_3_0");
        let args: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(args["path"], "a.py");
        assert_eq!(calls[1].name, "frob");
    }

    #[test]
    fn fenced_and_bare_json_need_a_known_tool() {
        let t = "Let me view it:\n```json\n{\"name\": \"view\", \"parameters\": {\"path\": \"b.py\"}}\n```";
        let (calls, form) = parse(t, &known(), 0);
        assert_eq!(form, Some(Form::Fenced));
        assert_eq!(calls[0].name, "view");
        assert!(calls[0].arguments.contains("b.py"));

        let t = "Done. {\"name\": \"submit\", \"arguments\": {\"summary\": \"x\"}} bye";
        let (calls, form) = parse(t, &known(), 0);
        assert_eq!(form, Some(Form::Bare));
        assert_eq!(calls[0].name, "submit");

        let t = "{\"type\": \"function\", \"function\": {\"name\": \"view\", \"arguments\": {}}}";
        assert_eq!(parse(t, &known(), 0).0[0].name, "view");

        // JSON that is not a call to a known tool is left alone.
        let t = "The config is {\"name\": \"graph\", \"arguments\": {}} and {\"a\": 1}.";
        assert_eq!(parse(t, &known(), 0), (vec![], None));
        assert_eq!(parse("no json here { at all", &known(), 0), (vec![], None));
    }
}
