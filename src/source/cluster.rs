//! The embedded cluster: Kubernetes objects in memory, a simulated pod
//! runtime, the ordinal controller, and an EndpointSlice controller.
//!
//! State is plain Kubernetes objects (k8s-openapi), so `ctl` sees Kubernetes
//! JSON. Everything that happens is a method on [`Cluster`] taking `now`
//! (tokio's clock, pausable in tests): [`Cluster::step`] advances pod
//! lifecycles (Pending → Running → Ready after the configured delays,
//! terminating pods vanish), runs [`controller::reconcile`] for every
//! StatefulSet until it waits, recomputes EndpointSlices as the
//! EndpointSlice controller would, and returns the DNS view
//! ([`ClusterState`]) when it changed. The async part (`embedded.rs`) calls
//! `step` when a timer fires or a command arrived.
//!
//! This file holds the state and the clock; its rooms hold the rest. Five
//! are leaves that import nothing from here: `api` (resources, errors, keys,
//! JSON forms, fingerprints), `spec` (pure readings of objects: set specs,
//! selectors, revision names), `revisions` (a set's ControllerRevision
//! history), `volumes` (the volume and class store) and `compact` (objects
//! kept as text). The others extend [`Cluster`]:
//! `store` (apply, replace, patch, delete, list, get), `services` (cluster
//! IP and node port admission), `runtime` (pod lifecycle and faults),
//! `statefulset` (the reconcile core's glue), `claims`, `adopt`, `create`,
//! `endpointslice` (slices and the DNS view) and `watch` (the fan-out to
//! watchers). This file names only the leaves, so imports run one way
//! (`tests/house.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::Instant;

mod adopt;
mod api;
mod claims;
mod compact;
mod create;
mod endpointslice;
mod revisions;
mod runtime;
mod services;
mod spec;
mod statefulset;
mod store;
#[cfg(test)]
mod tests;
mod volumes;
mod watch;

pub use api::{ApiError, Key, Resource, WatchEvent, default_namespace, object_id};
use api::{
    Fingerprint, Seen, hash_fingerprint, json_fingerprint, json_of, object_fingerprint, stamp,
    to_json,
};
use compact::Compact;
pub use spec::revision_name;
use spec::{first_container, fnv, now_time, selects, set_spec};

use super::manifest::{Object, StateBuilder};
use crate::controller::{self, Action, DeleteReason, Phase, PodView, SetSpec};
use crate::model::ClusterState;

/// How the simulated runtime behaves.
#[derive(Clone, Debug)]
pub struct SimSettings {
    /// Pod IPs come from here.
    pub pod_cidr: IpNet,
    /// Services without `spec.clusterIP` get one from here.
    pub service_cidr: IpNet,
    /// Pending → Running (container started).
    pub start_delay: Duration,
    /// Running → Ready (readiness probe passes).
    pub ready_delay: Duration,
    /// Deletion requested → gone (graceful termination).
    pub terminate_delay: Duration,
    /// The most pods the simulated cluster holds at once; a controller
    /// that wants more is refused (`FailedCreate`), as over a quota.
    pub max_pods: usize,
}

/// A fault injected into a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The container dies: the pod fails and its controller replaces it.
    Kill,
    /// The readiness probe starts failing.
    Unready,
    /// The readiness probe passes again.
    Ready,
    /// The container cannot start (CrashLoopBackOff) until `Start`.
    FailStart,
    /// Clears `FailStart`.
    Start,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kill" => Ok(Fault::Kill),
            "unready" => Ok(Fault::Unready),
            "ready" => Ok(Fault::Ready),
            "fail-start" => Ok(Fault::FailStart),
            "start" => Ok(Fault::Start),
            other => Err(format!(
                "unknown fault {other:?}: use kill, unready, ready, fail-start or start"
            )),
        }
    }
}

/// A pod and what the simulation knows about it.
#[derive(Clone, Debug)]
struct SimPod {
    pod: core::Pod,
    ordinal: Option<u32>,
    revision: String,
    /// Owner set, if any.
    set: Option<String>,
    created: Instant,
    started: Option<Instant>,
    ready_since: Option<Instant>,
    deleting: Option<Instant>,
    failed: bool,
    unready: bool,
    fail_start: bool,
    ip: Option<IpAddr>,
    /// Left Pending because the pod CIDR is exhausted (said once).
    unschedulable: bool,
}

/// A StatefulSet and its revisions (ControllerRevisions).
#[derive(Clone, Debug)]
struct SetEntry {
    sts: apps::StatefulSet,
    revisions: revisions::History,
}

/// Hands out pod IPs: in order from a cursor that never goes back, so a
/// restarted pod gets a new address, and never one still held.
#[derive(Debug)]
struct IpPool {
    cidr: IpNet,
    /// Offset of the next address to try from the network address.
    cursor: u128,
    held: BTreeSet<IpAddr>,
}

/// The largest number of events kept, oldest dropped first.
const MAX_EVENTS: usize = 1000;
/// The largest number of endpoints in one generated slice.
const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Node name of every simulated pod.
const NODE: &str = "embedded";

pub struct Cluster {
    settings: SimSettings,
    namespaces: BTreeMap<String, core::Namespace>,
    services: BTreeMap<Key, core::Service>,
    sets: BTreeMap<Key, SetEntry>,
    pods: BTreeMap<Key, SimPod>,
    claims: BTreeMap<Key, core::PersistentVolumeClaim>,
    volumes: volumes::Volumes,
    /// User-managed slices and Endpoints (from manifests or `ctl apply`).
    /// Kept as text: the cluster only reads them back.
    static_slices: BTreeMap<Key, Compact<discovery::EndpointSlice>>,
    static_endpoints: BTreeMap<Key, Compact<core::Endpoints>>,
    /// Slices generated for services with a selector.
    generated: BTreeMap<Key, discovery::EndpointSlice>,
    events: VecDeque<core::Event>,
    event_seq: u64,
    ips: IpPool,
    /// The fingerprint of each object last applied from the manifest files,
    /// by (resource, key): a reload applies only what changed and deletes
    /// what left the files. A fingerprint, not a copy: the store holds the
    /// object once.
    from_files: BTreeMap<(Resource, Key), Fingerprint>,
    /// What watchers last saw, to send them only differences.
    seen: BTreeMap<(Resource, Key), Seen>,
    resource_version: u64,
    watch: broadcast::Sender<WatchEvent>,
    /// The fingerprint of the DNS view last handed out.
    last_state: Option<Fingerprint>,
    /// Sets refused a pod for want of room, so the event is said once per
    /// episode, not once per step.
    at_capacity: BTreeSet<Key>,
}

/// Kubernetes' alphabet for generated name suffixes (no vowels).
fn suffix(text: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv(text);
    (0..len)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

impl Cluster {
    pub fn new(settings: SimSettings) -> Self {
        let ips = IpPool::new(settings.pod_cidr);
        let (watch, _) = broadcast::channel(4096);
        let mut cluster = Self {
            settings,
            namespaces: BTreeMap::new(),
            services: BTreeMap::new(),
            sets: BTreeMap::new(),
            pods: BTreeMap::new(),
            claims: BTreeMap::new(),
            volumes: volumes::Volumes::default(),
            static_slices: BTreeMap::new(),
            static_endpoints: BTreeMap::new(),
            generated: BTreeMap::new(),
            events: VecDeque::new(),
            event_seq: 0,
            ips,
            from_files: BTreeMap::new(),
            seen: BTreeMap::new(),
            resource_version: 1,
            watch,
            last_state: None,
            at_capacity: BTreeSet::new(),
        };
        cluster.ensure_namespace("default");
        cluster
    }

    fn ensure_namespace(&mut self, name: &str) {
        if !self.namespaces.contains_key(name) {
            let ns = core::Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    creation_timestamp: Some(now_time()),
                    ..ObjectMeta::default()
                },
                status: Some(core::NamespaceStatus {
                    phase: Some("Active".to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            self.namespaces.insert(name.to_owned(), ns);
        }
    }

    fn event(&mut self, involved: (&str, &str, &str), type_: &str, reason: &str, message: String) {
        let (kind, namespace, name) = involved;
        self.event_seq += 1;
        let now = now_time();
        let event = core::Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:016x}", self.event_seq)),
                namespace: Some(namespace.to_owned()),
                creation_timestamp: Some(now.clone()),
                ..ObjectMeta::default()
            },
            involved_object: core::ObjectReference {
                kind: Some(kind.to_owned()),
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                api_version: Some(
                    if kind == Resource::StatefulSets.kind() {
                        Resource::StatefulSets.api_version()
                    } else {
                        Resource::Pods.api_version()
                    }
                    .to_owned(),
                ),
                ..Default::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(type_.to_owned()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(core::EventSource {
                component: Some(
                    match kind {
                        "StatefulSet" => "statefulset-controller",
                        "PersistentVolumeClaim" => "persistentvolume-controller",
                        _ => "kubelet",
                    }
                    .to_owned(),
                ),
                host: None,
            }),
            ..Default::default()
        };
        self.events.push_back(event);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    /// Advances the simulation to `now`; returns the DNS view if it changed.
    pub fn step(&mut self, now: Instant) -> Option<ClusterState> {
        self.advance_pods(now);
        for _ in 0..64 {
            if !self.reconcile_sets(now) {
                break;
            }
            self.advance_pods(now);
        }
        self.update_set_status();
        self.generate_slices();
        self.notify_watchers();
        let state = self.dns_state();
        let print = hash_fingerprint(&state);
        if self.last_state == Some(print) {
            return None;
        }
        self.last_state = Some(print);
        Some(state)
    }

    /// When the next time-driven transition is due.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let s = &self.settings;
        self.pods
            .values()
            .filter_map(|p| {
                if let Some(deleting) = p.deleting {
                    return Some(deleting + s.terminate_delay);
                }
                if p.failed {
                    return None;
                }
                match (p.started, p.ready_since) {
                    (None, _) if !p.fail_start => Some(p.created + s.start_delay),
                    (Some(started), None) if !p.unready => Some(started + s.ready_delay),
                    _ => None,
                }
            })
            .min()
    }
}
