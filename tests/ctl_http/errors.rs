//! `ctl fault` posting to the simulator's endpoint, and clear errors: an
//! unreachable admin address, unknown types, and bad flags as clap usage
//! errors.

use super::*;

use clap::Parser;
use headless_dns::cli::Cli;
use serde_json::{Value, json};

#[test]
fn fault_posts_to_the_sim_endpoint() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("POST", "/sim/v1/namespaces/demo/pods/web-demo-1/fault") => {
            ok(json!({"results": ["pod/web-demo-1 killed"]}))
        }
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["fault", "kill", "pod/web-demo-1", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "pod/web-demo-1 killed\n");
    let sent: Value = serde_json::from_str(&mock.seen()[0].body).unwrap();
    assert_eq!(sent, json!({"fault": "kill"}));
}

#[test]
fn unreachable_admin_and_unknown_types_are_clear_errors() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = format!("127.0.0.1:{port}");
    let (code, out, err) = ctl(&admin, &["get", "pods"]);
    assert_eq!((code, out.as_str()), (1, ""));
    let prefix = format!("error: cannot reach the headless-dns admin API at http://{admin}: ");
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.ends_with(" (is 'headless-dns serve' running? use --admin ADDR)\n"),
        "{err}"
    );

    let (code, _, err) = ctl(&admin, &["get", "pod", "web-demo-0", "-A"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: a resource cannot be retrieved by name across all namespaces\n"
    );

    let (code, _, err) = ctl(&admin, &["get", "widgets"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: the server doesn't have a resource type \"widgets\"\n"
    );
}

#[test]
fn bad_flags_are_clap_usage_errors() {
    let error = Cli::try_parse_from(["headless-dns", "ctl", "get", "pods", "--bogus"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    let error = Cli::try_parse_from(["headless-dns", "ctl", "scale", "sts", "web"]).unwrap_err();
    assert_eq!(
        error.kind(),
        clap::error::ErrorKind::MissingRequiredArgument
    );
}
