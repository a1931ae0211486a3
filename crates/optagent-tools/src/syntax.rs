//! Code structure with tree-sitter, for Python and C: definitions (Python functions, classes,
//! methods; C functions, structs, unions, enums, typedefs, macros) with their signature lines,
//! identifier references (comments and strings are not identifiers, so they never match), and a
//! file's outline (the definitions, nested, with line ranges).

use std::path::Path;

use tree_sitter::{Node, Parser, Tree};

/// A language we parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    C,
}

impl Lang {
    /// By file extension: `.py`/`.pyi` are Python, `.c`/`.h` are C.
    pub fn from_path(path: &Path) -> Option<Lang> {
        match path.extension()?.to_str()? {
            "py" | "pyi" => Some(Lang::Python),
            "c" | "h" => Some(Lang::C),
            _ => None,
        }
    }

    fn parser(self) -> Parser {
        let mut p = Parser::new();
        let lang: tree_sitter::Language = match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::C => tree_sitter_c::LANGUAGE.into(),
        };
        p.set_language(&lang)
            .expect("the bundled grammar matches the tree-sitter version");
        p
    }

    fn identifier_kinds(self) -> &'static [&'static str] {
        match self {
            Lang::Python => &["identifier"],
            Lang::C => &["identifier", "field_identifier", "type_identifier"],
        }
    }
}

/// Parse a source text.
pub fn parse(lang: Lang, src: &str) -> Option<Tree> {
    lang.parser().parse(src, None)
}

/// One definition in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// `class`, `function`, `method` (Python); `function`, `struct`, `union`, `enum`, `typedef`,
    /// `macro` (C).
    pub kind: &'static str,
    pub name: String,
    /// With enclosing classes/functions: `Graph.shortest_path`.
    pub qualified: String,
    /// 1-based first and last line.
    pub line: usize,
    pub end_line: usize,
    /// The signature, whitespace collapsed: `def f(a, b) -> int:`, `static int f(int x)`.
    pub signature: String,
    /// How deeply it is nested in other definitions (0: top level).
    pub depth: usize,
}

/// All definitions of a file, in source order.
pub fn definitions(lang: Lang, src: &str) -> Vec<Definition> {
    let Some(tree) = parse(lang, src) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut scope = Vec::new();
    match lang {
        Lang::Python => py_defs(tree.root_node(), src, &mut scope, &mut out),
        Lang::C => c_defs(tree.root_node(), src, &mut out),
    }
    out
}

fn text<'a>(n: Node<'_>, src: &'a str) -> &'a str {
    n.utf8_text(src.as_bytes()).unwrap_or("")
}

/// The node's text up to its body (or its first line), whitespace collapsed.
fn signature(n: Node<'_>, src: &str) -> String {
    // Python: up to the header's `:` (a comment may sit between it and the body).
    let colon = {
        let mut c = n.walk();
        let found = n
            .children(&mut c)
            .take_while(|ch| ch.kind() != "block")
            .filter(|ch| ch.kind() == ":")
            .last()
            .map(|ch| ch.end_byte());
        found
    };
    let end = colon
        .or_else(|| n.child_by_field_name("body").map(|b| b.start_byte()))
        .unwrap_or_else(|| {
            let s = n.start_byte();
            src[s..n.end_byte()]
                .find('\n')
                .map(|i| s + i)
                .unwrap_or(n.end_byte())
        });
    let raw = &src[n.start_byte()..end.max(n.start_byte())];
    let mut s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        s = s.chars().take(200).collect::<String>() + "…";
    }
    s
}

fn py_defs(node: Node<'_>, src: &str, scope: &mut Vec<(String, bool)>, out: &mut Vec<Definition>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        let kind = child.kind();
        if kind == "function_definition" || kind == "class_definition" {
            let name = child
                .child_by_field_name("name")
                .map(|n| text(n, src).to_string())
                .unwrap_or_default();
            let is_class = kind == "class_definition";
            let def_kind = if is_class {
                "class"
            } else if scope.last().is_some_and(|(_, c)| *c) {
                "method"
            } else {
                "function"
            };
            let mut qualified: Vec<&str> = scope.iter().map(|(n, _)| n.as_str()).collect();
            qualified.push(&name);
            out.push(Definition {
                kind: def_kind,
                qualified: qualified.join("."),
                name: name.clone(),
                line: child.start_position().row + 1,
                end_line: child.end_position().row + 1,
                signature: signature(child, src),
                depth: scope.len(),
            });
            scope.push((name, is_class));
            if let Some(body) = child.child_by_field_name("body") {
                py_defs(body, src, scope, out);
            }
            scope.pop();
        } else {
            py_defs(child, src, scope, out);
        }
    }
}

/// The name a C declarator declares (through pointers, arrays, parentheses, function declarators).
fn declarator_name(n: Node<'_>, src: &str) -> Option<String> {
    match n.kind() {
        "identifier" | "type_identifier" | "field_identifier" | "primitive_type" => {
            Some(text(n, src).to_string())
        }
        _ => {
            if let Some(d) = n.child_by_field_name("declarator") {
                return declarator_name(d, src);
            }
            let mut c = n.walk();
            let found = n
                .named_children(&mut c)
                .find_map(|ch| declarator_name(ch, src));
            found
        }
    }
}

fn c_defs(node: Node<'_>, src: &str, out: &mut Vec<Definition>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        let line = child.start_position().row + 1;
        let end_line = child.end_position().row + 1;
        let mut push = |kind: &'static str, name: String, sig: String| {
            out.push(Definition {
                kind,
                qualified: name.clone(),
                name,
                line,
                end_line,
                signature: sig,
                depth: 0,
            })
        };
        match child.kind() {
            "function_definition" => {
                if let Some(name) = child
                    .child_by_field_name("declarator")
                    .and_then(|d| declarator_name(d, src))
                {
                    push("function", name, signature(child, src));
                }
                // Bodies hold no definitions worth listing (local structs are rare).
            }
            "struct_specifier" | "union_specifier" | "enum_specifier" => {
                if child.child_by_field_name("body").is_some() {
                    if let Some(name) = child.child_by_field_name("name") {
                        let kind = match child.kind() {
                            "struct_specifier" => "struct",
                            "union_specifier" => "union",
                            _ => "enum",
                        };
                        push(kind, text(name, src).to_string(), signature(child, src));
                    }
                }
                c_defs(child, src, out);
            }
            "type_definition" => {
                // The defined type first, then what it names (`typedef struct s {..} s_t;`).
                let mut c = child.walk();
                let names: Vec<String> = child
                    .children_by_field_name("declarator", &mut c)
                    .filter_map(|d| declarator_name(d, src))
                    .collect();
                let sig: String = {
                    let s = text(child, src);
                    let s = if child
                        .child_by_field_name("type")
                        .is_some_and(|t| t.child_by_field_name("body").is_some())
                    {
                        // `typedef struct {...} name;`: show the head and the name.
                        let head = signature(child.child_by_field_name("type").unwrap(), src);
                        format!("typedef {head} {{...}} {};", names.join(", "))
                    } else {
                        s.split_whitespace().collect::<Vec<_>>().join(" ")
                    };
                    s.chars().take(200).collect()
                };
                for name in names {
                    push("typedef", name, sig.clone());
                }
                c_defs(child, src, out);
            }
            "preproc_def" | "preproc_function_def" => {
                if let Some(name) = child.child_by_field_name("name") {
                    push("macro", text(name, src).to_string(), signature(child, src));
                }
            }
            "declaration" => {
                // `struct s {...} x;` defines struct s inside a declaration.
                c_defs(child, src, out);
            }
            _ => c_defs(child, src, out),
        }
    }
}

/// One use of an identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// 1-based line and column (in characters).
    pub line: usize,
    pub column: usize,
    /// The identifier is the name being defined there (a def, class, function declarator,
    /// struct, typedef, macro).
    pub is_definition: bool,
}

/// Where the identifier `name` occurs as code (not in comments or strings).
pub fn references(lang: Lang, src: &str, name: &str) -> Vec<Reference> {
    if name.is_empty() || !src.contains(name) {
        return Vec::new();
    }
    let Some(tree) = parse(lang, src) else {
        return Vec::new();
    };
    let kinds = lang.identifier_kinds();
    let mut out = Vec::new();
    let mut cursor = tree.walk();
    'walk: loop {
        let n = cursor.node();
        if kinds.contains(&n.kind()) && text(n, src) == name {
            let pos = n.start_position();
            let line_start = src[..n.start_byte()]
                .rfind('\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            let column = src[line_start..n.start_byte()].chars().count() + 1;
            out.push(Reference {
                line: pos.row + 1,
                column,
                is_definition: is_definition_name(n),
            });
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    out
}

fn is_definition_name(n: Node<'_>) -> bool {
    let Some(p) = n.parent() else {
        return false;
    };
    let named = |field: &str| {
        p.child_by_field_name(field)
            .is_some_and(|c| c.id() == n.id())
    };
    match p.kind() {
        "function_definition" | "class_definition" => named("name"),
        "struct_specifier" | "union_specifier" | "enum_specifier" => {
            named("name") && p.child_by_field_name("body").is_some()
        }
        "preproc_def" | "preproc_function_def" => named("name"),
        "function_declarator" => {
            named("declarator")
                && std::iter::successors(p.parent(), |x| x.parent())
                    .take(4)
                    .any(|a| a.kind() == "function_definition")
        }
        "type_definition" => named("declarator"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: &str = r#"import os

# helper mentioned in a comment: compute
class Graph(object):
    """A graph. compute is mentioned here."""

    def __init__(self, n):
        self.n = n

    @staticmethod
    def compute(a,
                b):  # a comment
        return a + b


def compute(x):
    s = "compute"
    return Graph.compute(x, 1)
"#;

    const C: &str = r#"#include <stdio.h>
#define SQUARE(x) ((x) * (x))

/* compute is a comment */
typedef struct point {
    int x, y;
} point_t;

struct node { struct node *next; };

static int compute(int a, int b) {
    return SQUARE(a) + b;
}

int main(void) {
    printf("compute\n");
    return compute(1, 2);
}
"#;

    #[test]
    fn python_definitions() {
        let defs = definitions(Lang::Python, PY);
        let got: Vec<(&str, &str, usize, usize)> = defs
            .iter()
            .map(|d| (d.kind, d.qualified.as_str(), d.line, d.depth))
            .collect();
        assert_eq!(
            got,
            vec![
                ("class", "Graph", 4, 0),
                ("method", "Graph.__init__", 7, 1),
                ("method", "Graph.compute", 11, 1),
                ("function", "compute", 16, 0),
            ]
        );
        assert_eq!(defs[2].signature, "def compute(a, b):");
        assert_eq!(defs[0].end_line, 13);
    }

    #[test]
    fn python_references_skip_comments_and_strings() {
        let refs = references(Lang::Python, PY, "compute");
        let lines: Vec<(usize, bool)> = refs.iter().map(|r| (r.line, r.is_definition)).collect();
        assert_eq!(lines, vec![(11, true), (16, true), (18, false)]);
        assert_eq!(refs[2].column, 18);
    }

    #[test]
    fn c_definitions() {
        let defs = definitions(Lang::C, C);
        let got: Vec<(&str, &str, usize)> = defs
            .iter()
            .map(|d| (d.kind, d.name.as_str(), d.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("macro", "SQUARE", 2),
                ("typedef", "point_t", 5),
                ("struct", "point", 5),
                ("struct", "node", 9),
                ("function", "compute", 11),
                ("function", "main", 15),
            ]
        );
        let f = defs.iter().find(|d| d.name == "compute").unwrap();
        assert_eq!(f.signature, "static int compute(int a, int b)");
        assert_eq!((f.line, f.end_line), (11, 13));
    }

    #[test]
    fn c_references_skip_comments_and_strings() {
        let refs = references(Lang::C, C, "compute");
        let lines: Vec<(usize, bool)> = refs.iter().map(|r| (r.line, r.is_definition)).collect();
        assert_eq!(lines, vec![(11, true), (17, false)]);
        let refs = references(Lang::C, C, "point_t");
        assert_eq!(refs.len(), 1);
        assert!(refs[0].is_definition);
    }
}
