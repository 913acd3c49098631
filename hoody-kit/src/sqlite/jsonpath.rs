//! The KV store's `path=` parameter: a dotted path into a JSON value. `.a.b`, `a.b`,
//! `$.a.b`, `a[0].b` and `a.0.b` are all accepted; a numeric segment indexes an array and
//! names a key in an object. An empty path (``, `.`, `$`) is the whole value.

use serde_json::{Map, Value};

/// The segments of `path`, or why it is malformed.
pub(crate) fn parse(path: &str) -> Result<Vec<String>, String> {
    let p = path.trim();
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    segs.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    segs.push(std::mem::take(&mut cur));
                }
                let mut idx = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) => idx.push(d),
                        None => return Err(format!("path {path:?}: unclosed '['")),
                    }
                }
                let idx = idx.trim().trim_matches(['"', '\'']).to_string();
                if idx.is_empty() {
                    return Err(format!("path {path:?}: empty []"));
                }
                segs.push(idx);
            }
            ']' => return Err(format!("path {path:?}: unexpected ']'")),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        segs.push(cur);
    }
    Ok(segs)
}

fn index(seg: &str) -> Option<usize> {
    seg.parse().ok()
}

/// The value at `segs` in `v`.
pub(crate) fn get<'a>(v: &'a Value, segs: &[String]) -> Option<&'a Value> {
    segs.iter().try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => index(seg).and_then(|i| a.get(i)),
        _ => None,
    })
}

/// The value at `segs` in `v`, mutably.
pub(crate) fn get_mut<'a>(v: &'a mut Value, segs: &[String]) -> Option<&'a mut Value> {
    segs.iter().try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => index(seg).and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// The slot at `segs` in `v`, creating missing object keys (as `null`) and turning `null`
/// intermediates into objects; an array index may be at most the array's length (appends).
pub(crate) fn slot<'a>(v: &'a mut Value, segs: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = v;
    for (n, seg) in segs.iter().enumerate() {
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        cur = match cur {
            Value::Object(m) => m.entry(seg.clone()).or_insert(Value::Null),
            Value::Array(a) => {
                let len = a.len();
                match index(seg) {
                    Some(i) if i < len => &mut a[i],
                    Some(i) if i == len => {
                        a.push(Value::Null);
                        &mut a[i]
                    }
                    _ => {
                        return Err(format!(
                            "path segment {seg:?} is not an index within the array of {len} \
                             at {}",
                            shown(&segs[..n])
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "cannot go into {} at {}: it is not an object or array",
                    kind(other),
                    shown(&segs[..n])
                ));
            }
        };
    }
    Ok(cur)
}

/// `segs` written back as a path.
pub(crate) fn shown(segs: &[String]) -> String {
    if segs.is_empty() {
        ".".to_string()
    } else {
        segs.iter().map(|s| format!(".{s}")).collect()
    }
}

/// The JSON type of `v`, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_all_spellings() {
        let want = vec!["a".to_string(), "0".to_string(), "b".to_string()];
        for p in [".a.0.b", "a.0.b", "$.a[0].b", "a[0].b", "a['0'].b"] {
            assert_eq!(parse(p).unwrap(), want, "{p}");
        }
        assert!(parse("").unwrap().is_empty());
        assert!(parse("$").unwrap().is_empty());
        assert!(parse("a[0").is_err());
        assert!(parse("a]").is_err());
    }

    #[test]
    fn get_and_slot() {
        let mut v = json!({"a": [{"b": 1}], "s": "x"});
        assert_eq!(get(&v, &parse("a.0.b").unwrap()), Some(&json!(1)));
        assert_eq!(get(&v, &parse("a.1").unwrap()), None);
        *slot(&mut v, &parse("c.d").unwrap()).unwrap() = json!(2);
        *slot(&mut v, &parse("a[1]").unwrap()).unwrap() = json!(3);
        assert_eq!(v, json!({"a": [{"b": 1}, 3], "s": "x", "c": {"d": 2}}));
        assert!(slot(&mut v, &parse("s.x").unwrap()).is_err());
        assert!(slot(&mut v, &parse("a.5").unwrap()).is_err());
        *get_mut(&mut v, &parse("a.0.b").unwrap()).unwrap() = json!(9);
        assert_eq!(v["a"][0]["b"], json!(9));
    }
}
