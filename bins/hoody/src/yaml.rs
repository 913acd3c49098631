//! `--output yaml`: a JSON value written as YAML (block style; strings quoted when a plain
//! scalar would read back as something else). Enough for the API's data, which is JSON.

use serde_json::Value;

/// `v` as a YAML document (ends with a newline).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => block(v, 0, &mut out),
        Value::Array(a) if !a.is_empty() => block(v, 0, &mut out),
        _ => {
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
    out
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                out.push_str(&format!("{pad}{}:", key(k)));
                child(val, indent, out);
            }
        }
        Value::Array(a) => {
            for val in a {
                out.push_str(&format!("{pad}-"));
                child(val, indent, out);
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(v))),
    }
}

fn child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        _ => out.push_str(&format!(" {}\n", scalar(v))),
    }
}

fn key(k: &str) -> String {
    if plain(k) { k.to_string() } else { quote(k) }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain(s) => s.clone(),
        Value::String(s) => quote(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Whether `s` reads back as the same string unquoted.
fn plain(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    !s.is_empty()
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        && s.parse::<f64>().is_err()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@+".contains(&b))
        && !s.starts_with(['-', '.', '@'])
}

/// A double-quoted YAML string (JSON's escapes are YAML's).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values() {
        let v = serde_json::json!({
            "id": "0123456789abcdef01234567",
            "name": "web",
            "n": 3,
            "ok": true,
            "none": null,
            "tags": ["a", "true", "1.5"],
            "env": {"A": "x y", "B": ""},
            "empty": [],
            "items": [{"k": 1}, {"k": 2}],
        });
        let y = to_yaml(&v);
        assert_eq!(
            y,
            "empty: []\nenv:\n  A: \"x y\"\n  B: \"\"\nid: 0123456789abcdef01234567\nitems:\n  -\n    k: 1\n  -\n    k: 2\n\"n\": 3\nname: web\nnone: null\nok: true\ntags:\n  - a\n  - \"true\"\n  - \"1.5\"\n"
        );
        assert_eq!(to_yaml(&serde_json::json!("yes")), "\"yes\"\n");
    }
}
