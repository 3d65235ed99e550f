//! The answer function and the wire rules, without sockets: model values →
//! index → snapshot → query bytes → handler → response bytes → assertions.
//! Each test names the DESIGN §1 row or rule it covers. The record forms are
//! in `records.rs`, negative and not-yet answers in `negative.rs`, the wire
//! rules (sizes, EDNS, header checks, the fast path against the full one)
//! in `wire.rs`; this file builds the index they ask.

#[path = "../support/mod.rs"]
mod support;

mod negative;
mod records;
mod wire;

use std::time::Duration;

use headless_dns::index::ClusterIndex;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};

use support::settings::settings;

const GRACE: Duration = Duration::from_secs(30);

fn service(ns: &str, name: &str) -> Service {
    Service {
        key: ObjectKey::new(ns, name),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    }
}

fn web_port() -> Port {
    Port {
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 80,
    }
}

fn ep(ip: &str, hostname: Option<&str>, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip.parse().unwrap()],
        hostname: hostname.map(Into::into),
        ready,
        target: hostname.map(Into::into),
    }
}

fn slice(ns: &str, name: &str, svc: &str, endpoints: Vec<Endpoint>) -> EndpointGroup {
    EndpointGroup {
        key: ObjectKey::new(ns, name),
        service: ObjectKey::new(ns, svc),
        ports: vec![web_port()],
        endpoints,
    }
}

/// The walkthrough: nginx-demo with web-demo-0 and -1.
fn demo_index() -> ClusterIndex {
    let mut index = ClusterIndex::new(settings(), GRACE);
    index.apply_service(service("demo", "nginx-demo"));
    index.apply_slice(slice(
        "demo",
        "nginx-demo-abc",
        "nginx-demo",
        vec![
            ep("10.244.0.39", Some("web-demo-0"), true),
            ep("10.244.0.40", Some("web-demo-1"), true),
        ],
    ));
    index.set_synced(true);
    index
}
