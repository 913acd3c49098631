//! `GET /metrics`: hoodyd's Prometheus exposition parses with a Prometheus text parser and
//! counts what the test did (requests by route pattern, their latency, containers by
//! status). As root.
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use prometheus_parse::{Scrape, Value};

fn scrape(d: &Daemon) -> Scrape {
    let out = std::process::Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(d.socket())
        .arg("http://hoodyd/metrics")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples.iter().find_map(|m| {
        let matches = m.metric == name && labels.iter().all(|(k, v)| m.labels.get(k) == Some(*v));
        match (&m.value, matches) {
            (Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v), true) => Some(*v),
            _ => None,
        }
    })
}

#[test]
fn metrics_parse_and_count_the_tests_requests() {
    let d = Daemon::new();
    let project = d.project("hoodytest-metrics");
    let id = d.create_with(&project, "counted", serde_json::json!({"hoody_kit": false}));
    assert_eq!(d.settle(&id)["status"], "running");
    for _ in 0..3 {
        d.api("GET", "/api/v1/servers", None, 200);
    }
    let (st, _) = d.try_api("GET", "/api/v1/containers/000000000000000000000000", None);
    assert_eq!(st, 404);
    let s = scrape(&d);
    let servers = value(
        &s,
        "hoody_api_requests_total",
        &[
            ("method", "GET"),
            ("route", "/api/v1/servers"),
            ("status", "200"),
        ],
    )
    .unwrap();
    assert!(servers >= 3.0, "{servers}");
    let missing = value(
        &s,
        "hoody_api_requests_total",
        &[("route", "/api/v1/containers/:id"), ("status", "404")],
    );
    assert_eq!(
        missing,
        Some(1.0),
        "the id is not a label, the pattern is: {:?}",
        s.samples
            .iter()
            .filter(|m| m.metric == "hoody_api_requests_total")
            .map(|m| (&m.labels, &m.value))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        value(&s, "hoody_containers", &[("status", "running")]),
        Some(1.0)
    );
    assert!(value(&s, "hoody_operations_in_flight", &[]).is_some());
    let hist = s
        .samples
        .iter()
        .find(|m| {
            m.metric == "hoody_api_request_duration_seconds"
                && m.labels.get("route") == Some("/api/v1/servers")
        })
        .expect("the latency histogram of /api/v1/servers");
    match &hist.value {
        Value::Histogram(buckets) => {
            let inf = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert!(inf >= 3.0, "{buckets:?}");
        }
        v => panic!("not a histogram: {v:?}"),
    }
    // A second scrape counts the first.
    let s = scrape(&d);
    assert!(value(&s, "hoody_api_requests_total", &[("route", "/metrics")]).unwrap() >= 1.0);
}
