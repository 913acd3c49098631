//! `GET /metrics`: hoodyd in Prometheus's text format (version 0.0.4).
//!
//! * `hoody_containers{status}`: containers by status (the state database, read per scrape);
//! * `hoody_operations_in_flight`: containers with an operation (create, copy, restore,
//!   delete, ...) in progress;
//! * `hoody_api_requests_total{method, route, status}`: requests served, by route pattern
//!   (`/api/v1/containers/:id`, never the id itself, so the series stay few);
//! * `hoody_api_request_duration_seconds{route}`: a histogram of their latency;
//! * `hoody_build_info{version}`.
//!
//! Counting takes one short lock per request: hoodyd's request rate is a control plane's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::{Host, Result};

/// Upper bounds of the latency histogram's buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The request counters of one API server (shared by its listeners).
#[derive(Debug, Default)]
pub struct ApiMetrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

impl ApiMetrics {
    /// Counts one request to `route` (its pattern) that answered `status` after `took`.
    pub fn record(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *c.requests
            .entry((method.to_string(), route.to_string(), status))
            .or_insert(0) += 1;
        let h = c.latency.entry(route.to_string()).or_default();
        let secs = took.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The whole exposition: these counters and `host`'s gauges.
    pub fn render(&self, host: &Host) -> Result<String> {
        let mut out = String::new();
        let by_status = host.store().read().count_by_status()?;
        out.push_str("# HELP hoody_containers Containers by status.\n");
        out.push_str("# TYPE hoody_containers gauge\n");
        for (status, n) in by_status {
            let _ = writeln!(
                out,
                "hoody_containers{{status=\"{}\"}} {n}",
                escape(&status)
            );
        }
        out.push_str(
            "# HELP hoody_operations_in_flight Containers with an operation in progress.\n",
        );
        out.push_str("# TYPE hoody_operations_in_flight gauge\n");
        let _ = writeln!(
            out,
            "hoody_operations_in_flight {}",
            host.operations_in_flight()
        );
        out.push_str("# HELP hoody_build_info hoodyd's version.\n");
        out.push_str("# TYPE hoody_build_info gauge\n");
        let _ = writeln!(
            out,
            "hoody_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP hoody_api_requests_total API requests served.\n");
        out.push_str("# TYPE hoody_api_requests_total counter\n");
        for ((method, route, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "hoody_api_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str("# HELP hoody_api_request_duration_seconds API request latency.\n");
        out.push_str("# TYPE hoody_api_request_duration_seconds histogram\n");
        for (route, h) in &c.latency {
            let r = escape(route);
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "hoody_api_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "hoody_api_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "hoody_api_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "hoody_api_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        Ok(out)
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let m = ApiMetrics::default();
        m.record("GET", "/x", 200, Duration::from_millis(3));
        m.record("GET", "/x", 404, Duration::from_secs(20));
        let c = m.inner.lock().unwrap_or_else(|p| p.into_inner());
        let h = &c.latency["/x"];
        assert_eq!(h.count, 2);
        assert_eq!(h.counts[0], 0, "3 ms is above 1 ms");
        assert_eq!(h.counts[2], 1, "3 ms is within 5 ms");
        assert_eq!(h.counts[BUCKETS.len() - 1], 1, "20 s is above every bucket");
        assert_eq!(c.requests[&("GET".into(), "/x".into(), 404)], 1);
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
