//! Tests of the metrics registry (`metrics.rs`): names, types and HELP lines as exported.

use super::*;
use std::sync::Arc;

#[test]
fn exposition_has_counted_queries_and_histograms() {
    let m = Arc::new(Metrics::default());
    m.count_query(
        Some(RecordType::A),
        ResponseCode::NoError,
        Duration::from_micros(30),
    );
    m.count_query(
        Some(RecordType::A),
        ResponseCode::NoError,
        Duration::from_micros(30),
    );
    m.count_query(
        Some(RecordType::MX),
        ResponseCode::NXDomain,
        Duration::from_millis(2),
    );
    m.programming_latency.observe(Duration::from_micros(300));
    assert_eq!(m.queries("A", "NOERROR"), 2);
    assert_eq!(m.queries("other", "NXDOMAIN"), 1);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry()).unwrap();
    assert!(
        text.contains(r#"headless_dns_queries_total{type="A",rcode="NOERROR"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"headless_dns_queries_total{type="other",rcode="NXDOMAIN"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("headless_dns_response_seconds_count 3"),
        "{text}"
    );
    assert!(
        text.contains(r#"headless_dns_response_seconds_bucket{le="0.00005"} 2"#),
        "{text}"
    );
    assert!(
        text.contains("headless_dns_programming_latency_seconds_count 1"),
        "{text}"
    );
}

#[test]
fn registered_metrics_keep_their_names_types_and_help() {
    let m = Arc::new(Metrics::default());
    m.reloads.inc();
    m.serial.set(7);
    m.count_source_error("forbidden");
    m.count_source_error("no such kind");
    m.count_cookie("valid");
    m.count_tsig_rejected("badsig");
    m.truncated.inc();
    m.tcp_connections.inc_by(2);
    m.tcp_connections.dec();
    m.tcp_rejected.inc_by(2);
    m.slow_path.inc_by(3);
    m.rrl_dropped.inc_by(4);
    m.rrl_slipped.inc_by(5);
    m.tcp_queue_full.inc_by(6);
    assert_eq!(m.source_errors("api"), 1);
    assert_eq!(m.cookies("valid"), 1);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry()).unwrap();
    for line in [
        "# HELP headless_dns_config_reloads Config reloads (SIGHUP) applied.",
        "# TYPE headless_dns_config_reloads counter",
        "headless_dns_config_reloads_total 1",
        "# TYPE headless_dns_snapshot_serial gauge",
        "headless_dns_snapshot_serial 7",
        r#"headless_dns_source_errors_total{kind="forbidden"} 1"#,
        r#"headless_dns_source_errors_total{kind="api"} 1"#,
        r#"headless_dns_source_errors_total{kind="manifest"} 0"#,
        r#"headless_dns_cookies_total{presented="valid"} 1"#,
        r#"headless_dns_cookies_total{presented="invalid"} 0"#,
        r#"headless_dns_tsig_rejected_requests_total{reason="badsig"} 1"#,
        "headless_dns_truncated_responses_total 1",
        "headless_dns_rrl_responses_per_second 0",
        "headless_dns_udp_worker_restarts_total 0",
        // The packet-path counters, as they were exported from the
        // custom collector before they became registered types.
        "# HELP headless_dns_truncated_responses UDP answers sent with TC set.",
        "# TYPE headless_dns_truncated_responses counter",
        "# HELP headless_dns_tcp_connections Open TCP connections.",
        "# TYPE headless_dns_tcp_connections gauge",
        "headless_dns_tcp_connections 1",
        "# HELP headless_dns_tcp_rejected_connections TCP connections closed at accept because the cap was reached.",
        "# TYPE headless_dns_tcp_rejected_connections counter",
        "headless_dns_tcp_rejected_connections_total 2",
        "# HELP headless_dns_slow_path_queries Queries the fast path declined (EDNS options, other opcodes, malformed, ...), answered by the full handler.",
        "# TYPE headless_dns_slow_path_queries counter",
        "headless_dns_slow_path_queries_total 3",
        "# HELP headless_dns_rrl_dropped_responses UDP answers dropped by response rate limiting.",
        "# TYPE headless_dns_rrl_dropped_responses counter",
        "headless_dns_rrl_dropped_responses_total 4",
        "# HELP headless_dns_rrl_slipped_responses UDP answers response rate limiting sent empty with TC set (slipped).",
        "# TYPE headless_dns_rrl_slipped_responses counter",
        "headless_dns_rrl_slipped_responses_total 5",
        "# HELP headless_dns_tcp_answer_queue_full TCP answers that found their connection's queue full; the connection stops reading until its client reads.",
        "# TYPE headless_dns_tcp_answer_queue_full counter",
        "headless_dns_tcp_answer_queue_full_total 6",
        "# HELP headless_dns_source_stale_seconds Seconds since the source last confirmed its state (0 before the first sync).",
        "# TYPE headless_dns_source_stale_seconds gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP")).collect();
    assert!(helps.iter().all(|l| !l.ends_with("..")), "{helps:#?}");
    let mut names: Vec<&str> = helps.iter().filter_map(|l| l.split(' ').nth(2)).collect();
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all, "a metric is exported twice: {names:?}");
}
