//! Criterion benchmarks of the two hot paths (DESIGN §2):
//! - answering: `fast::respond` per query type on a built snapshot;
//! - programming: building a zone from the index (1k and 10k services of 10
//!   pods) and one endpoint change in the 10k zone (change → new snapshot).
//!
//! `cargo bench --bench zone`

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use headless_dns::index::ClusterIndex;
use headless_dns::model::{
    ClusterState, Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::fast;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

#[path = "../tests/support/settings.rs"]
#[allow(dead_code)]
mod settings;

use settings::settings;

fn ip(i: usize, j: usize) -> std::net::IpAddr {
    std::net::Ipv4Addr::new(10, (100 + i / 250) as u8, (i % 250) as u8, (j + 1) as u8).into()
}

/// `services` headless services of `pods` endpoints each, in 10 namespaces.
fn state(services: usize, pods: usize) -> ClusterState {
    let mut state = ClusterState::default();
    for i in 0..services {
        let ns = format!("ns-{}", i % 10);
        let name = format!("svc-{i:05}");
        state.services.push(Service {
            key: ObjectKey::new(&ns, &name),
            kind: ServiceKind::Headless,
            publish_not_ready: false,
            ports: vec![],
        });
        state.slices.push(group(&ns, &name, i, pods, 0));
    }
    state
}

fn group(ns: &str, name: &str, i: usize, pods: usize, shift: usize) -> EndpointGroup {
    EndpointGroup {
        key: ObjectKey::new(ns, &format!("{name}-x")),
        service: ObjectKey::new(ns, name),
        ports: vec![Port {
            name: "web".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        endpoints: (0..pods)
            .map(|j| Endpoint {
                addresses: vec![ip(i, (j + shift) % 250)],
                hostname: Some(format!("{name}-{j}").into()),
                ready: true,
                target: None,
            })
            .collect(),
    }
}

fn built(services: usize) -> ClusterIndex {
    let mut index = ClusterIndex::new(settings(), Duration::from_secs(30));
    index.reset_all(state(services, 10));
    index.set_synced(true);
    index.publish(Instant::now());
    index
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut message = Message::new(7, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    message.to_vec().expect("encode")
}

fn answering(c: &mut Criterion) {
    let index = built(1000);
    let snap = index.snapshot().clone();
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("answer");
    for (label, name, qtype) in [
        (
            "pod A",
            "svc-00017-3.svc-00017.ns-7.svc.cluster.local.",
            RecordType::A,
        ),
        (
            "service A",
            "svc-00017.ns-7.svc.cluster.local.",
            RecordType::A,
        ),
        (
            "SRV",
            "_web._tcp.svc-00017.ns-7.svc.cluster.local.",
            RecordType::SRV,
        ),
        (
            "NXDOMAIN",
            "nope.svc-00017.ns-7.svc.cluster.local.",
            RecordType::A,
        ),
        ("PTR", "4.17.100.10.in-addr.arpa.", RecordType::PTR),
    ] {
        let packet = query(name, qtype);
        group.bench_function(label, |b| {
            b.iter(|| fast::respond(&snap, std::hint::black_box(&packet), &mut out, Some(1232)))
        });
    }
    group.finish();
}

fn programming(c: &mut Criterion) {
    let mut group = c.benchmark_group("zone");
    group.sample_size(10);
    for services in [1000, 10_000] {
        let data = state(services, 10);
        group.bench_function(format!("build {services} services x 10 pods"), |b| {
            b.iter_batched(
                || data.clone(),
                |data| {
                    let mut index = ClusterIndex::new(settings(), Duration::from_secs(30));
                    index.reset_all(data);
                    index.set_synced(true);
                    index.publish(Instant::now())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut index = built(10_000);
    let mut shift = 0;
    c.bench_function("zone/one endpoint change in 10k services", |b| {
        b.iter(|| {
            shift += 1;
            index.apply_slice(group_for_update(shift));
            index.publish(Instant::now())
        })
    });
}

fn group_for_update(shift: usize) -> EndpointGroup {
    group("ns-7", "svc-00017", 17, 10, shift % 200)
}

criterion_group!(benches, answering, programming);
criterion_main!(benches);
