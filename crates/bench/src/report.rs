//! The benchmark's report: a short table for people, the same facts as JSON with `--output json`.
use super::floor::{self, Floor};
use super::load::LoadResult;
use super::spawn::Rss;
use crate::Summary;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
}

impl Machine {
    pub fn detect() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cores: floor::cores(),
            cpu_model,
        }
    }
}

/// Resident memory of a spawned server, from /proc/<pid>/status.
#[derive(Debug, Default, Serialize)]
pub struct ServerRss {
    /// Right after the CA was created, before any load.
    pub idle: Option<Rss>,
    /// After preparation and warm-up, as the measured run starts.
    pub before_run: Option<Rss>,
    /// After the measured run; its `hwm_kb` is the peak over the server's life.
    pub after_run: Option<Rss>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub server: String,
    pub spawned: bool,
    pub concurrency: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub ca_key_type: String,
    pub csr_key_type: Option<String>,
    pub machine: Machine,
    /// HTTP version the answers came in and how many connections carried the load.
    pub protocol: String,
    pub prepared: BTreeMap<String, String>,
    /// Certificates the server stored during the measured run (GET /api/health counts).
    pub issued: Option<i64>,
    pub revoked: Option<i64>,
    #[serde(flatten)]
    pub load: LoadResult,
    pub floor: Option<Floor>,
    /// requests_per_second / floor_per_second, in percent.
    pub ratio_percent: Option<f64>,
    pub server_rss: Option<ServerRss>,
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// The report as the CLI shows it: JSON, or a heading and fields (and warnings).
pub fn summary(r: &Report) -> Summary {
    let json =
        serde_json::to_value(r).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}));
    let heading = format!(
        "vcc-pki bench {} — {}{}, {} clients, {} s (+{} s warm-up)",
        r.scenario,
        r.server,
        if r.spawned { " (spawned)" } else { "" },
        r.concurrency,
        r.duration_s,
        r.warmup_s
    );
    let l = &r.load;
    let mut rows: Vec<(&str, String)> = vec![
        (
            "Machine",
            format!("{} cores, {}", r.machine.cores, r.machine.cpu_model),
        ),
        ("CA key", format!("intermediate {}", r.ca_key_type)),
        ("Protocol", r.protocol.clone()),
    ];
    for (k, v) in &r.prepared {
        rows.push((k.as_str(), v.clone()));
    }
    rows.push((
        "Requests",
        format!(
            "{} ok, {} errors in {:.2} s{}",
            l.requests,
            l.errors,
            l.elapsed_s,
            if l.exhausted {
                " (pool exhausted before the end: raise --pool)"
            } else {
                ""
            }
        ),
    ));
    rows.push((
        "Throughput",
        format!("{} requests/s", rate(l.requests_per_second)),
    ));
    // Whole seconds only: later buckets hold the answers that came after the deadline.
    let whole = &l.per_second[..(r.duration_s.floor() as usize).min(l.per_second.len())];
    if let (Some(first), Some(last), false) = (whole.first(), whole.last(), l.exhausted) {
        rows.push((
            "Per second",
            format!(
                "first {first}, last {last}, min {}, max {}",
                whole.iter().min().copied().unwrap_or(0),
                whole.iter().max().copied().unwrap_or(0)
            ),
        ));
    }
    rows.push((
        "Latency",
        format!(
            "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            l.latency_ms.p50, l.latency_ms.p90, l.latency_ms.p99, l.latency_ms.max
        ),
    ));
    if let Some(n) = r
        .issued
        .filter(|_| matches!(r.scenario, "issue-csr" | "issue-keygen" | "renew"))
    {
        rows.push(("Stored", format!("{n} new certificates")));
    }
    if let Some(n) = r.revoked.filter(|_| r.scenario == "revoke") {
        rows.push(("Revoked", format!("{n} certificates")));
    }
    match &r.floor {
        Some(f) => {
            let mut parts = vec![format!(
                "sign {} ({}) {}/s",
                f.sign_key_type,
                f.sign_provider,
                rate(f.sign_per_second)
            )];
            if let (Some(k), Some(v)) = (&f.verify_key_type, f.verify_per_second) {
                parts.push(format!("verify {k} {}/s", rate(v)));
            }
            if let (Some(k), Some(v)) = (&f.keygen_key_type, f.keygen_per_second) {
                parts.push(format!("keygen {k} {}/s", rate(v)));
            }
            rows.push((
                "Crypto floor",
                format!(
                    "{} on {} threads → {} certificates/s",
                    parts.join(" + "),
                    f.cores,
                    rate(f.floor_per_second)
                ),
            ));
            if let Some(p) = r.ratio_percent {
                rows.push(("Of the floor", format!("{p:.1} %")));
            }
        }
        None => rows.push((
            "Crypto floor",
            "none: no signature per request (pre-signed or background)".into(),
        )),
    }
    if let Some(rss) = &r.server_rss {
        let mut parts = Vec::new();
        if let Some(i) = rss.idle {
            parts.push(format!("idle {}", mb(i.rss_kb)));
        }
        if let Some(a) = rss.after_run {
            parts.push(format!("after {}", mb(a.rss_kb)));
            parts.push(format!("peak {}", mb(a.hwm_kb)));
        }
        rows.push(("Server RSS", parts.join(", ")));
    }
    let mut warnings = Vec::new();
    if l.errors > 0 {
        warnings.push(format!(
            "{} requests failed; first distinct errors:",
            l.errors
        ));
        for e in &l.error_messages {
            warnings.push(format!("    {} × {}", e.count, e.message));
        }
    }
    Summary {
        json,
        heading,
        fields: rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        warnings,
    }
}
