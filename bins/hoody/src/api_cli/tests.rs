use super::*;

#[test]
fn helpers() {
    assert_eq!(
        short_time("2026-01-02T03:04:05.678Z"),
        "2026-01-02 03:04:05"
    );
    assert_eq!(short_time("soon"), "soon");
    assert_eq!(bytes(10), "10 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(3 << 30), "3.0 GiB");
    assert_eq!(parse_limit("none"), Ok(Limit(None)));
    assert_eq!(parse_limit("5"), Ok(Limit(Some(5))));
    assert!(parse_limit("x").is_err());
    assert_eq!(
        parse_key_value("A=b=c"),
        Ok(("A".to_string(), "b=c".to_string()))
    );
    assert!(parse_key_value("=x").is_err());
}
