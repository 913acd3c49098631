//! hoody-proxy's `GET /metrics`, as root: a real hoodyd with one container (nothing listening
//! on its port 8080) and the proxy with two worker processes and `--metrics`. The supervisor
//! serves the scrape and serves no request itself, so every count it shows came from the
//! workers through the shared counters. The exposition parses with a Prometheus text parser
//! and counts the test's requests by service and status class, the upstream errors and the
//! latency histogram.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoody_testkit::daemon::{Daemon, bin};
use hoody_testkit::free_port;
use prometheus_parse::{Scrape, Value};

const APEX: &str = "hoody.test";

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// curl through the proxy with `host`: the status.
fn get(port: u16, host: &str, path: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(["-H", &format!("Host: {host}")])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn scrape(port: u16) -> (String, Scrape) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let s = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    (text, s)
}

fn counter(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|m| m.metric == name && labels.iter().all(|(k, v)| m.labels.get(k) == Some(*v)))
        .map(|m| match &m.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            _ => 0.0,
        })
        .sum()
}

#[test]
fn metrics_count_every_workers_requests() {
    let d = Daemon::with(&["--domain", APEX]);
    let project = d.project("hoodytest-proxy-metrics");
    let id = d.create_with(&project, "quiet", serde_json::json!({"hoody_kit": false}));
    assert_eq!(d.settle(&id)["status"], "running");
    let (http, metrics) = (free_port(), free_port());
    let _proxy = Proxy(
        Command::new(bin("hoody-proxy"))
            .args(["--domain", APEX, "--dns", "none", "--https", "none"])
            .arg("--hoodyd-socket")
            .arg(d.socket())
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--metrics", &format!("127.0.0.1:{metrics}")])
            .arg("--log-dir")
            .arg(d.path("proxy-logs"))
            .args(["--workers", "2", "--threads", "1"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.path("proxy.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let api = format!("api.{APEX}");
    let service = format!("{project}-{id}-http-8080.node-1.containers.{APEX}");
    // Until the proxy answers and has the container's route (its event stream is in).
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(http, &service, "/") != 502 {
        assert!(
            Instant::now() < deadline,
            "the proxy never routed to the container"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A request is counted when its response has been sent, a moment after the client has it:
    // the counts are read once they stop moving.
    let settled = || {
        let mut last = scrape(metrics);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(300));
            let now = scrape(metrics);
            let strip = |t: &str| {
                t.lines()
                    .filter(|l| !l.contains("_sum{"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            if strip(&now.0) == strip(&last.0) {
                return now;
            }
            last = now;
        }
        last
    };
    let (_, before) = settled();
    let base =
        |s: &Scrape, labels: &[(&str, &str)]| counter(s, "hoody_proxy_requests_total", labels);
    let (api0, svc0) = (
        base(&before, &[("service", "api")]),
        base(&before, &[("service", "http"), ("code", "5xx")]),
    );

    // Requests spread over the workers by the kernel: 6 to hoodyd's API (401: no token over
    // the network), 4 to a port nothing listens on (502), 2 to a host that names nothing.
    for _ in 0..6 {
        assert_eq!(get(http, &api, "/api/v1/servers"), 401);
    }
    for _ in 0..4 {
        assert_eq!(get(http, &service, "/nothing-here"), 502);
    }
    for _ in 0..2 {
        assert_eq!(get(http, "nowhere.example", "/"), 404);
    }

    let (text, s) = settled();
    assert_eq!(
        base(&s, &[("service", "api"), ("code", "4xx")]) - api0,
        6.0,
        "{text}"
    );
    assert_eq!(
        base(&s, &[("service", "http"), ("code", "5xx")]) - svc0,
        4.0,
        "{text}"
    );
    assert!(
        base(&s, &[("service", "unknown"), ("code", "4xx")]) >= 2.0,
        "{text}"
    );
    // (The wait above may have met a 503 before the route arrived: not an upstream error, so
    // the baseline is the errors' own.)
    let unreachable = |s: &Scrape| {
        counter(
            s,
            "hoody_proxy_upstream_errors_total",
            &[("service", "http"), ("kind", "unreachable")],
        )
    };
    assert_eq!(unreachable(&s) - unreachable(&before), 4.0, "{text}");
    assert!(
        counter(
            &s,
            "hoody_proxy_response_bytes_total",
            &[("service", "api")]
        ) > 0.0
    );
    // The histogram: its +Inf bucket is the number of requests.
    let inf = s.samples.iter().find_map(|m| match &m.value {
        Value::Histogram(h)
            if m.metric == "hoody_proxy_request_duration_seconds"
                && m.labels.get("service") == Some("api") =>
        {
            h.iter()
                .find(|b| b.less_than.is_infinite())
                .map(|b| b.count)
        }
        _ => None,
    });
    assert_eq!(inf.map(|c| c - api0), Some(6.0), "{text}");
    assert_eq!(counter(&s, "hoody_proxy_serving_threads", &[]), 2.0);

    // Only /metrics is there.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{metrics}/other"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
}
