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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::Instant;

mod adopt;
mod create;
pub use create::default_namespace;
mod revisions;
mod volumes;

use super::manifest::{Object, state_from_objects};
use crate::controller::{self, Action, DeleteReason, Phase, PodView, SetSpec};
use crate::model::ClusterState;

/// Objects are keyed by (namespace, name).
pub type Key = (String, String);

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

impl SimSettings {
    /// The simulation settings of `source.embedded`.
    pub fn from_config(embedded: &crate::config::EmbeddedConfig) -> Self {
        Self {
            pod_cidr: embedded.pod_cidr,
            service_cidr: embedded.service_cidr,
            start_delay: embedded.start_delay,
            ready_delay: embedded.ready_delay,
            terminate_delay: embedded.terminate_delay,
            max_pods: embedded.max_pods,
        }
    }
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

/// An error from a cluster operation, in the shape of a Kubernetes Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `BadRequest`, `Conflict`, `Invalid`.
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: format!("{resource} \"{name}\" not found"),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: 422,
            reason: "Invalid",
            message: message.into(),
        }
    }

    /// The Kubernetes `Status` object for this error.
    pub fn status(&self) -> Value {
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}

/// The resources the cluster serves, with their API coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Namespaces,
    Pods,
    Services,
    StatefulSets,
    EndpointSlices,
    Endpoints,
    PersistentVolumeClaims,
    Events,
    ControllerRevisions,
    PersistentVolumes,
    StorageClasses,
}

impl Resource {
    pub const ALL: [Resource; 11] = [
        Resource::Namespaces,
        Resource::Pods,
        Resource::Services,
        Resource::StatefulSets,
        Resource::EndpointSlices,
        Resource::Endpoints,
        Resource::PersistentVolumeClaims,
        Resource::Events,
        Resource::ControllerRevisions,
        Resource::PersistentVolumes,
        Resource::StorageClasses,
    ];

    /// From the URL: API group (empty for core) and plural.
    pub fn from_path(group: &str, plural: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.group() == group && r.plural() == plural)
    }

    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespaces",
            Resource::Pods => "pods",
            Resource::Services => "services",
            Resource::StatefulSets => "statefulsets",
            Resource::EndpointSlices => "endpointslices",
            Resource::Endpoints => "endpoints",
            Resource::PersistentVolumeClaims => "persistentvolumeclaims",
            Resource::Events => "events",
            Resource::ControllerRevisions => "controllerrevisions",
            Resource::PersistentVolumes => "persistentvolumes",
            Resource::StorageClasses => "storageclasses",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Resource::StatefulSets | Resource::ControllerRevisions => "apps",
            Resource::EndpointSlices => "discovery.k8s.io",
            Resource::StorageClasses => "storage.k8s.io",
            _ => "",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Resource::StatefulSets | Resource::ControllerRevisions => "apps/v1",
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            Resource::StorageClasses => "storage.k8s.io/v1",
            _ => "v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Pods => "Pod",
            Resource::Services => "Service",
            Resource::StatefulSets => "StatefulSet",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::Endpoints => "Endpoints",
            Resource::PersistentVolumeClaims => "PersistentVolumeClaim",
            Resource::Events => "Event",
            Resource::ControllerRevisions => "ControllerRevision",
            Resource::PersistentVolumes => "PersistentVolume",
            Resource::StorageClasses => "StorageClass",
        }
    }

    /// `kubectl`'s name of the type in messages: `statefulset.apps`.
    pub fn kubectl_name(self) -> String {
        let kind = self.kind().to_ascii_lowercase();
        match self.group() {
            "" => kind,
            group => format!("{kind}.{group}"),
        }
    }

    /// The plural with its group, as API errors name types:
    /// `pods`, `statefulsets.apps`.
    pub fn plural_name(self) -> String {
        match self.group() {
            "" => self.plural().to_owned(),
            group => format!("{}.{group}", self.plural()),
        }
    }

    fn namespaced(self) -> bool {
        !matches!(
            self,
            Resource::Namespaces | Resource::PersistentVolumes | Resource::StorageClasses
        )
    }
}

/// A change to one object, for watchers (`ctl get -w`).
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub resource: Resource,
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub kind: &'static str,
    pub namespace: String,
    pub object: Value,
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

impl SimPod {
    fn ready(&self) -> bool {
        self.ready_since.is_some() && !self.unready && self.deleting.is_none() && !self.failed
    }

    fn phase(&self) -> Phase {
        if self.failed {
            Phase::Failed
        } else if self.started.is_some() {
            Phase::Running
        } else {
            Phase::Pending
        }
    }
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

impl IpPool {
    fn new(cidr: IpNet) -> Self {
        Self {
            cidr,
            // .0 is the network, .1 conventionally the gateway.
            cursor: 2,
            held: BTreeSet::new(),
        }
    }

    fn size(&self) -> u128 {
        let bits = u32::from(self.cidr.max_prefix_len() - self.cidr.prefix_len());
        if bits >= 127 {
            u128::MAX
        } else {
            1u128 << bits
        }
    }

    fn at(&self, offset: u128) -> IpAddr {
        match self.cidr.network() {
            IpAddr::V4(n) => IpAddr::V4((u32::from(n).wrapping_add(offset as u32)).into()),
            IpAddr::V6(n) => IpAddr::V6((u128::from(n).wrapping_add(offset)).into()),
        }
    }

    fn allocate(&mut self) -> Option<IpAddr> {
        let size = self.size();
        // Usable offsets: 2 ..= size-2 (skip network, gateway, broadcast).
        let usable = size.saturating_sub(3).max(1);
        if self.held.len() as u128 >= usable {
            return None;
        }
        for _ in 0..usable.min(1 << 20) {
            if self.cursor >= size.saturating_sub(1) || self.cursor < 2 {
                self.cursor = 2;
            }
            let ip = self.at(self.cursor);
            self.cursor += 1;
            if self.held.insert(ip) {
                return Some(ip);
            }
        }
        None
    }

    fn release(&mut self, ip: IpAddr) {
        self.held.remove(&ip);
    }
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
    static_slices: BTreeMap<Key, discovery::EndpointSlice>,
    static_endpoints: BTreeMap<Key, core::Endpoints>,
    /// Slices generated for services with a selector.
    generated: BTreeMap<Key, discovery::EndpointSlice>,
    events: VecDeque<core::Event>,
    event_seq: u64,
    ips: IpPool,
    /// Last applied manifest object by (resource, key): a reload applies
    /// only what changed and deletes what left the files.
    from_files: BTreeMap<(Resource, Key), Value>,
    /// What watchers last saw, to send them only differences.
    seen: BTreeMap<(Resource, Key), Value>,
    resource_version: u64,
    watch: broadcast::Sender<WatchEvent>,
    last_state: Option<ClusterState>,
    /// Sets refused a pod for want of room, so the event is said once per
    /// episode, not once per step.
    at_capacity: BTreeSet<Key>,
}

fn key_of(meta: &ObjectMeta) -> Key {
    (
        meta.namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        meta.name.clone().unwrap_or_default(),
    )
}

fn now_time() -> Time {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(0);
    Time(Timestamp::new(secs, 0).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A stable short hash (FNV-1a, 64 bit) of some text: revision names and
/// slice names must not change between runs.
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
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

/// The revision name of a pod template: `<set>-<hash>`, as
/// `controller-revision-hash` labels show it.
pub fn revision_name(set: &str, template: &core::PodTemplateSpec) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    format!("{set}-{:010x}", fnv(&text) & 0xff_ffff_ffff)
}

/// Whether `labels` has every pair of `selector`.
fn selects(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|labels| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The SetSpec the controller works on, from a StatefulSet.
fn set_spec(sts: &apps::StatefulSet) -> SetSpec {
    let spec = sts.spec.clone().unwrap_or_default();
    let name = sts.metadata.name.clone().unwrap_or_default();
    let update_revision = revision_name(&name, &spec.template);
    let status = sts.status.clone().unwrap_or_default();
    let strategy = spec.update_strategy.unwrap_or_default();
    let update_strategy = if strategy.type_.as_deref() == Some("OnDelete") {
        controller::UpdateStrategy::OnDelete
    } else {
        let rolling = strategy.rolling_update.unwrap_or_default();
        let max_unavailable = match rolling.max_unavailable {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                n.max(1) as u32
            }
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(p)) => {
                let replicas = u64::from(spec.replicas.unwrap_or(1).max(0) as u32);
                let percent: u64 = p.trim_end_matches('%').parse().unwrap_or(0);
                u32::try_from(replicas.saturating_mul(percent) / 100)
                    .unwrap_or(u32::MAX)
                    .max(1)
            }
            None => 1,
        };
        controller::UpdateStrategy::RollingUpdate {
            partition: rolling.partition.unwrap_or(0).max(0) as u32,
            max_unavailable,
        }
    };
    let retention = spec
        .persistent_volume_claim_retention_policy
        .unwrap_or_default();
    SetSpec {
        replicas: spec.replicas.unwrap_or(1).max(0) as u32,
        start: spec.ordinals.and_then(|o| o.start).unwrap_or(0).max(0) as u32,
        pod_management: if spec.pod_management_policy.as_deref() == Some("Parallel") {
            controller::PodManagement::Parallel
        } else {
            controller::PodManagement::OrderedReady
        },
        update_strategy,
        claim_templates: spec
            .volume_claim_templates
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect(),
        when_scaled: if retention.when_scaled.as_deref() == Some("Delete") {
            controller::Retention::Delete
        } else {
            controller::Retention::Retain
        },
        current_revision: status
            .current_revision
            .unwrap_or_else(|| update_revision.clone()),
        update_revision,
        name,
    }
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

    /// Subscribes to object changes.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.watch.subscribe()
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
                    if kind == "StatefulSet" {
                        "apps/v1"
                    } else {
                        "v1"
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

    // ---- objects in, as `kubectl apply` ------------------------------------

    /// Applies objects (from `ctl apply` or the manifest files). Returns
    /// kubectl's result lines (`statefulset.apps/web created`).
    pub fn apply(&mut self, objects: Vec<Object>, now: Instant) -> Result<Vec<String>, ApiError> {
        let mut results = Vec::new();
        for object in objects {
            results.push(self.apply_one(object, now)?);
        }
        Ok(results)
    }

    fn apply_one(&mut self, object: Object, now: Instant) -> Result<String, ApiError> {
        let _ = now;
        let (resource, key) = object_id(&object);
        let label = format!("{}/{}", resource.kubectl_name(), key.1);
        if resource.namespaced() {
            self.ensure_namespace(&key.0);
        }
        let outcome = match object {
            Object::Namespace(mut ns) => {
                let existed = self.namespaces.contains_key(&key.1);
                ns.metadata.creation_timestamp.get_or_insert_with(now_time);
                ns.status.get_or_insert_with(|| core::NamespaceStatus {
                    phase: Some("Active".to_owned()),
                    ..Default::default()
                });
                if existed {
                    "unchanged"
                } else {
                    self.namespaces.insert(key.1.clone(), ns);
                    "created"
                }
            }
            Object::Service(mut svc) => {
                svc.metadata.namespace = Some(key.0.clone());
                self.allocate_cluster_ip(&key, &mut svc)?;
                svc.metadata.creation_timestamp = self
                    .services
                    .get(&key)
                    .and_then(|old| old.metadata.creation_timestamp.clone())
                    .or_else(|| Some(now_time()));
                replace(&mut self.services, key.clone(), svc, |old, new| {
                    old.spec == new.spec && old.metadata.labels == new.metadata.labels
                })
            }
            Object::EndpointSlice(mut slice) => {
                slice.metadata.namespace = Some(key.0.clone());
                replace(&mut self.static_slices, key.clone(), slice, |old, new| {
                    old.endpoints == new.endpoints
                        && old.ports == new.ports
                        && old.metadata.labels == new.metadata.labels
                        && old.address_type == new.address_type
                })
            }
            Object::Endpoints(mut ep) => {
                ep.metadata.namespace = Some(key.0.clone());
                replace(&mut self.static_endpoints, key.clone(), ep, |old, new| {
                    old.subsets == new.subsets
                })
            }
            Object::StatefulSet(sts) => self.apply_set(key.clone(), sts)?,
        };
        Ok(format!("{label} {outcome}"))
    }

    /// Gives a Service its cluster IP as kube-apiserver's allocator does:
    /// headless and ExternalName Services get none; an IP written in the
    /// spec is kept if it is in `service_cidr` and free, and refused in
    /// kube-apiserver's words otherwise; an updated Service keeps the IP it
    /// has; a new one gets a free IP, the same one for the same name on
    /// every run (a hash of namespace/name, then the next free).
    fn allocate_cluster_ip(&self, key: &Key, svc: &mut core::Service) -> Result<(), ApiError> {
        let name = key.1.clone();
        let spec = svc.spec.get_or_insert_with(Default::default);
        let type_ = spec.type_.get_or_insert_with(|| "ClusterIP".to_owned());
        if type_ == "ExternalName" {
            return Ok(());
        }
        let requested: Vec<String> = match (&spec.cluster_ips, &spec.cluster_ip) {
            (Some(ips), _) if !ips.is_empty() => ips.clone(),
            (_, Some(ip)) if !ip.is_empty() => vec![ip.clone()],
            _ => Vec::new(),
        };
        if requested.first().map(String::as_str) == Some("None") {
            spec.cluster_ip = Some("None".to_owned());
            spec.cluster_ips = Some(vec!["None".to_owned()]);
            return Ok(());
        }
        let taken: BTreeSet<IpAddr> = self
            .services
            .iter()
            .filter(|(k, _)| *k != key)
            .filter_map(|(_, s)| s.spec.as_ref()?.cluster_ips.as_ref())
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let cidr = self.settings.service_cidr;
        let invalid = |ips: &[String], why: String| {
            let list = ips
                .iter()
                .map(|ip| format!("{ip:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            ApiError::invalid(format!(
                "Service \"{name}\" is invalid: spec.clusterIPs: Invalid value: []string{{{list}}}: {why}"
            ))
        };
        let chosen: IpAddr = if let Some(first) = requested.first() {
            let Ok(ip) = first.parse::<IpAddr>() else {
                return Err(invalid(
                    &requested,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_owned(),
                ));
            };
            if !cidr.contains(&ip) {
                return Err(invalid(
                    &requested,
                    format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
                    ),
                ));
            }
            if taken.contains(&ip) {
                return Err(invalid(
                    &requested,
                    format!("failed to allocate IP {ip}: provided IP is already allocated"),
                ));
            }
            ip
        } else if let Some(kept) = self
            .services
            .get(key)
            .and_then(|old| old.spec.as_ref()?.cluster_ip.as_ref()?.parse().ok())
            .filter(|ip: &IpAddr| cidr.contains(ip))
        {
            kept
        } else {
            let pool = IpPool::new(cidr);
            let size = pool.size().min(1 << 24);
            // Offsets 1 ..= size-2: not the network, not the broadcast.
            let usable = size.saturating_sub(2).max(1);
            let start = u128::from(fnv(&format!("{}/{}", key.0, key.1))) % usable;
            let free = (0..usable)
                .map(|i| pool.at(1 + (start + i) % usable))
                .find(|ip| !taken.contains(ip));
            let Some(ip) = free else {
                return Err(ApiError::invalid(format!(
                    "Internal error occurred: failed to allocate a serviceIP: range is full ({cidr})"
                )));
            };
            ip
        };
        if matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")) {
            // Node ports from kube-apiserver's default range 30000-32767.
            let used: BTreeSet<i32> = self
                .services
                .iter()
                .filter(|(k, _)| *k != key)
                .filter_map(|(_, s)| s.spec.as_ref()?.ports.as_ref())
                .flatten()
                .filter_map(|p| p.node_port)
                .collect();
            let mut next = 30000 + (fnv(&format!("{}/{}", key.0, key.1)) % 2768) as i32;
            for port in spec.ports.iter_mut().flatten() {
                if port.node_port.is_some_and(|n| n > 0) {
                    continue;
                }
                for _ in 0..2768 {
                    if !used.contains(&next) {
                        break;
                    }
                    next = if next >= 32767 { 30000 } else { next + 1 };
                }
                port.node_port = Some(next);
                next = if next >= 32767 { 30000 } else { next + 1 };
            }
        }
        let family = if chosen.is_ipv4() { "IPv4" } else { "IPv6" };
        spec.cluster_ip = Some(chosen.to_string());
        spec.cluster_ips = Some(vec![chosen.to_string()]);
        spec.ip_families = Some(vec![family.to_owned()]);
        spec.ip_family_policy
            .get_or_insert_with(|| "SingleStack".to_owned());
        Ok(())
    }

    /// Creates or updates a StatefulSet, keeping its status and bumping
    /// `metadata.generation` when the spec changes.
    fn apply_set(
        &mut self,
        key: Key,
        mut sts: apps::StatefulSet,
    ) -> Result<&'static str, ApiError> {
        let Some(spec) = sts.spec.as_ref() else {
            return Err(ApiError::invalid(format!(
                "StatefulSet.apps \"{}\" is invalid: spec: Required value",
                key.1
            )));
        };
        if spec.service_name.as_deref().unwrap_or("").is_empty() {
            tracing::debug!(set = %key.1, "StatefulSet without serviceName: its pods get no DNS names");
        }
        if spec.replicas.is_some_and(|r| r < 0) {
            return Err(ApiError::invalid(format!(
                "StatefulSet.apps \"{}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                key.1,
                spec.replicas.unwrap_or_default()
            )));
        }
        let selector = spec.selector.match_labels.clone().unwrap_or_default();
        let labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return Err(ApiError::invalid(format!(
                "StatefulSet.apps \"{}\" is invalid: spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
                key.1
            )));
        }
        sts.metadata.namespace = Some(key.0.clone());
        let revision = revision_name(&key.1, &spec.template);
        let template = spec.template.clone();
        match self.sets.get_mut(&key) {
            Some(entry) => {
                if entry.sts.spec == sts.spec && entry.sts.metadata.labels == sts.metadata.labels {
                    return Ok("unchanged");
                }
                let generation = entry.sts.metadata.generation.unwrap_or(1) + 1;
                sts.metadata.generation = Some(generation);
                sts.metadata.creation_timestamp = entry.sts.metadata.creation_timestamp.clone();
                sts.metadata.uid = entry.sts.metadata.uid.clone();
                sts.status = entry.sts.status.clone();
                entry.revisions.record(revision, template);
                entry.sts = sts;
                Ok("configured")
            }
            None => {
                sts.metadata.generation = Some(1);
                sts.metadata.creation_timestamp = Some(now_time());
                sts.metadata.uid = Some(format!("{:016x}", fnv(&format!("{}/{}", key.0, key.1))));
                sts.status = Some(apps::StatefulSetStatus {
                    current_revision: Some(revision.clone()),
                    update_revision: Some(revision.clone()),
                    ..Default::default()
                });
                let mut revisions = revisions::History::default();
                revisions.record(revision, template);
                self.sets.insert(key, SetEntry { sts, revisions });
                Ok("created")
            }
        }
    }

    /// Replaces a StatefulSet wholesale (`PUT`); it must exist.
    pub fn replace_set(
        &mut self,
        namespace: &str,
        name: &str,
        mut sts: apps::StatefulSet,
    ) -> Result<apps::StatefulSet, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        if !self.sets.contains_key(&key) {
            return Err(ApiError::not_found("statefulsets.apps", name));
        }
        if sts.metadata.name.as_deref().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                sts.metadata.name.as_deref().unwrap_or_default()
            )));
        }
        sts.metadata.name = Some(name.to_owned());
        self.apply_set(key.clone(), sts)?;
        Ok(self.sets[&key].sts.clone())
    }

    /// Applies a JSON merge patch (RFC 7386) to a StatefulSet.
    pub fn patch_set(
        &mut self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<apps::StatefulSet, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let Some(entry) = self.sets.get(&key) else {
            return Err(ApiError::not_found("statefulsets.apps", name));
        };
        let mut doc =
            serde_json::to_value(&entry.sts).map_err(|e| ApiError::bad_request(e.to_string()))?;
        json_patch::merge(&mut doc, patch);
        let sts: apps::StatefulSet = serde_path_to_error::deserialize(doc).map_err(|e| {
            ApiError::invalid(format!(
                "StatefulSet.apps \"{name}\" is invalid: {}: {}",
                e.path(),
                e.inner()
            ))
        })?;
        self.replace_set(namespace, name, sts)
    }

    /// Applies the manifest files' objects: what changed since the last
    /// load is applied, what left the files is deleted (kubectl apply
    /// --prune), what is unchanged is left alone, so a `ctl scale` of an
    /// object whose file did not change survives a reload of another file.
    pub fn apply_manifests(
        &mut self,
        objects: Vec<Object>,
        now: Instant,
    ) -> Result<Vec<String>, ApiError> {
        let mut next: BTreeMap<(Resource, Key), Value> = BTreeMap::new();
        let mut changed = Vec::new();
        for object in objects {
            let id = object_id(&object);
            let json = object_json(&object);
            if self.from_files.get(&id) != Some(&json) {
                changed.push(object);
            }
            next.insert(id, json);
        }
        let mut results = self.apply(changed, now)?;
        let gone: Vec<(Resource, Key)> = self
            .from_files
            .keys()
            .filter(|id| !next.contains_key(*id))
            .cloned()
            .collect();
        for (resource, (namespace, name)) in gone {
            if self.delete(resource, &namespace, &name, now).is_ok() {
                results.push(format!("{} \"{name}\" deleted", resource.kubectl_name()));
            }
        }
        self.from_files = next;
        Ok(results)
    }

    /// Deletes one object. Pods go Terminating; a StatefulSet takes its pods
    /// with it (claims stay unless its retention policy says otherwise).
    pub fn delete(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let not_found = || ApiError::not_found(&resource.plural_name(), name);
        match resource {
            Resource::Pods => {
                let pod = self.pods.get_mut(&key).ok_or_else(not_found)?;
                if pod.deleting.is_none() {
                    pod.deleting = Some(now);
                    pod.pod.metadata.deletion_timestamp = Some(now_time());
                    let container = first_container(&pod.pod);
                    self.event(
                        ("Pod", namespace, name),
                        "Normal",
                        "Killing",
                        format!("Stopping container {container}"),
                    );
                }
                let obj = serde_json::to_value(&self.pods[&key].pod).unwrap_or(Value::Null);
                Ok(obj)
            }
            Resource::Services => to_json(self.services.remove(&key).ok_or_else(not_found)?),
            Resource::EndpointSlices => {
                to_json(self.static_slices.remove(&key).ok_or_else(not_found)?)
            }
            Resource::Endpoints => {
                to_json(self.static_endpoints.remove(&key).ok_or_else(not_found)?)
            }
            Resource::PersistentVolumeClaims => {
                to_json(self.remove_claim(&key).ok_or_else(not_found)?)
            }
            Resource::StatefulSets => {
                let entry = self.sets.remove(&key).ok_or_else(not_found)?;
                let pods: Vec<Key> = self
                    .pods
                    .iter()
                    .filter(|(k, p)| k.0 == namespace && p.set.as_deref() == Some(name))
                    .map(|(k, _)| k.clone())
                    .collect();
                for pod in pods {
                    let _ = self.delete(Resource::Pods, &pod.0, &pod.1, now);
                }
                let when_deleted = entry
                    .sts
                    .spec
                    .as_ref()
                    .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
                    .and_then(|p| p.when_deleted.clone());
                if when_deleted.as_deref() == Some("Delete") {
                    let templates = set_spec(&entry.sts).claim_templates;
                    self.remove_claims(|(ns, claim)| {
                        ns == namespace
                            && templates
                                .iter()
                                .any(|t| claim.starts_with(&format!("{t}-{name}-")))
                    });
                }
                to_json(entry.sts)
            }
            Resource::Namespaces => {
                if name == "default" || name.starts_with("kube-") {
                    return Err(ApiError {
                        code: 403,
                        reason: "Forbidden",
                        message: format!(
                            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                        ),
                    });
                }
                let ns = self.namespaces.remove(name).ok_or_else(not_found)?;
                self.services.retain(|k, _| k.0 != name);
                self.static_slices.retain(|k, _| k.0 != name);
                self.static_endpoints.retain(|k, _| k.0 != name);
                let sets: Vec<Key> = self.sets.keys().filter(|k| k.0 == name).cloned().collect();
                for set in sets {
                    let _ = self.delete(Resource::StatefulSets, &set.0, &set.1, now);
                }
                // Everything else in it goes too: pods no set owns, and
                // every claim whatever its set's retention policy said.
                let pods: Vec<Key> = self.pods.keys().filter(|k| k.0 == name).cloned().collect();
                for pod in pods {
                    let _ = self.delete(Resource::Pods, &pod.0, &pod.1, now);
                }
                self.remove_claims(|k| k.0 == name);
                self.events
                    .retain(|e| e.metadata.namespace.as_deref() != Some(name));
                to_json(ns)
            }
            Resource::Events => Err(ApiError::bad_request("events cannot be deleted here")),
            Resource::ControllerRevisions => Err(ApiError::bad_request(
                "controllerrevisions belong to their StatefulSet's controller and cannot be deleted here",
            )),
            Resource::PersistentVolumes => self.delete_volume(name),
            Resource::StorageClasses => Err(ApiError::bad_request(
                "the embedded cluster's storage class cannot be deleted",
            )),
        }
    }

    /// Injects a fault into a pod.
    pub fn fault(&mut self, namespace: &str, name: &str, fault: Fault) -> Result<String, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let pod = self
            .pods
            .get_mut(&key)
            .ok_or_else(|| ApiError::not_found("pods", name))?;
        let container = first_container(&pod.pod);
        let what = match fault {
            Fault::Kill => {
                pod.failed = true;
                "killed"
            }
            Fault::Unready => {
                pod.unready = true;
                "unready"
            }
            Fault::Ready => {
                pod.unready = false;
                "ready"
            }
            Fault::FailStart => {
                pod.fail_start = true;
                "failing to start"
            }
            Fault::Start => {
                pod.fail_start = false;
                "starting"
            }
        };
        match fault {
            Fault::Kill => self.event(
                ("Pod", namespace, name),
                "Warning",
                "Failed",
                format!("Container {container} was killed"),
            ),
            Fault::Unready => self.event(
                ("Pod", namespace, name),
                "Warning",
                "Unhealthy",
                "Readiness probe failed".to_owned(),
            ),
            _ => {}
        }
        Ok(format!("pod/{name} {what}"))
    }

    // ---- time passes ---------------------------------------------------------

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
        if self.last_state.as_ref() == Some(&state) {
            return None;
        }
        self.last_state = Some(state.clone());
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

    fn advance_pods(&mut self, now: Instant) {
        let settings = self.settings.clone();
        let mut gone = Vec::new();
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        for (key, pod) in &mut self.pods {
            if let Some(deleting) = pod.deleting {
                if now >= deleting + settings.terminate_delay {
                    gone.push(key.clone());
                }
                continue;
            }
            if pod.failed {
                continue;
            }
            if pod.started.is_none() && !pod.fail_start && now >= pod.created + settings.start_delay
            {
                if pod.ip.is_none() {
                    pod.ip = self.ips.allocate();
                }
                if pod.ip.is_none() {
                    if !pod.unschedulable {
                        pod.unschedulable = true;
                        tracing::warn!(pod = %key.1, cidr = %settings.pod_cidr, "pod CIDR exhausted; pod stays Pending");
                        warnings.push((
                            key.clone(),
                            "FailedScheduling",
                            format!(
                                "0/1 nodes are available: 1 node has no free pod IP: pod CIDR {} is exhausted.",
                                settings.pod_cidr
                            ),
                        ));
                    }
                    continue;
                }
                pod.unschedulable = false;
                pod.started = Some(pod.created + settings.start_delay);
                events.push((
                    key.clone(),
                    "Started",
                    format!("Started container {}", first_container(&pod.pod)),
                ));
            }
            if let Some(started) = pod.started
                && pod.ready_since.is_none()
                && now >= started + settings.ready_delay
            {
                pod.ready_since = Some(started + settings.ready_delay);
            }
        }
        for key in gone {
            if let Some(pod) = self.pods.remove(&key)
                && let Some(ip) = pod.ip
            {
                self.ips.release(ip);
            }
        }
        for ((ns, name), reason, message) in events {
            self.event(("Pod", &ns, &name), "Normal", reason, message);
        }
        for ((ns, name), reason, message) in warnings {
            self.event(("Pod", &ns, &name), "Warning", reason, message);
        }
        let keys: Vec<Key> = self.pods.keys().cloned().collect();
        for key in keys {
            self.render_pod_status(&key);
        }
    }

    /// Writes the simulated state into the Pod object's status.
    fn render_pod_status(&mut self, key: &Key) {
        let Some(sim) = self.pods.get_mut(key) else {
            return;
        };
        let ready = sim.ready();
        let phase = match sim.phase() {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        };
        let condition = |type_: &str, ok: bool| core::PodCondition {
            type_: type_.to_owned(),
            status: if ok { "True" } else { "False" }.to_owned(),
            ..Default::default()
        };
        let containers = sim
            .pod
            .spec
            .as_ref()
            .map(|s| s.containers.clone())
            .unwrap_or_default();
        let statuses = containers
            .iter()
            .map(|c| core::ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                image_id: String::new(),
                ready,
                restart_count: 0,
                started: Some(sim.started.is_some() && !sim.failed),
                state: Some(if sim.failed {
                    core::ContainerState {
                        terminated: Some(core::ContainerStateTerminated {
                            exit_code: 137,
                            reason: Some("Error".to_owned()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                } else if sim.started.is_some() {
                    core::ContainerState {
                        // Wall time: the pod's creation plus the simulated
                        // start delay.
                        running: Some(core::ContainerStateRunning {
                            started_at: sim.started.and_then(|started| {
                                let created = sim.pod.metadata.creation_timestamp.as_ref()?.0;
                                let delay = k8s_openapi::jiff::SignedDuration::try_from(
                                    started.saturating_duration_since(sim.created),
                                )
                                .ok()?;
                                Some(Time(created.checked_add(delay).ok()?))
                            }),
                        }),
                        ..Default::default()
                    }
                } else {
                    core::ContainerState {
                        waiting: Some(core::ContainerStateWaiting {
                            reason: Some(
                                if sim.fail_start {
                                    "CrashLoopBackOff"
                                } else {
                                    "ContainerCreating"
                                }
                                .to_owned(),
                            ),
                            message: None,
                        }),
                        ..Default::default()
                    }
                }),
                ..Default::default()
            })
            .collect();
        let ip = sim.ip.map(|ip| ip.to_string());
        sim.pod.status = Some(core::PodStatus {
            phase: Some(phase.to_owned()),
            conditions: Some(vec![
                condition("PodScheduled", true),
                condition("Initialized", true),
                condition("ContainersReady", ready),
                condition("Ready", ready),
            ]),
            container_statuses: Some(statuses),
            pod_ip: ip.clone(),
            pod_ips: ip.map(|ip| vec![core::PodIP { ip }]),
            host_ip: Some("127.0.0.1".to_owned()),
            start_time: sim.pod.metadata.creation_timestamp.clone(),
            qos_class: Some("BestEffort".to_owned()),
            ..Default::default()
        });
    }

    /// The controller's view of a set's pods.
    fn pod_views(&self, set: &Key) -> Vec<PodView> {
        self.pods
            .values()
            .filter(|p| {
                p.pod.metadata.namespace.as_deref() == Some(&set.0)
                    && p.set.as_deref() == Some(&set.1)
            })
            .filter_map(|p| {
                Some(PodView {
                    ordinal: p.ordinal?,
                    revision: p.revision.clone(),
                    phase: p.phase(),
                    ready: p.ready(),
                    terminating: p.deleting.is_some(),
                })
            })
            .collect()
    }

    /// Runs the controller once for every set and carries out its actions.
    /// Returns whether anything was done.
    fn reconcile_sets(&mut self, now: Instant) -> bool {
        let mut acted = false;
        let keys: Vec<Key> = self.sets.keys().cloned().collect();
        for key in keys {
            self.adopt_orphans(&key);
            let spec = set_spec(&self.sets[&key].sts);
            let pods = self.pod_views(&key);
            let claims: BTreeSet<String> = self
                .claims
                .keys()
                .filter(|(ns, _)| *ns == key.0)
                .map(|(_, n)| n.clone())
                .collect();
            let room = self.settings.max_pods.saturating_sub(self.pods.len());
            let mut refused = None;
            for action in controller::reconcile(&spec, &pods, &claims, room) {
                if let Action::NoCapacity { ordinal } = action {
                    refused = Some(ordinal);
                    continue;
                }
                acted = true;
                self.carry_out(&key, &spec, action, now);
            }
            match refused {
                Some(ordinal) if self.at_capacity.insert(key.clone()) => {
                    let (namespace, set) = (key.0.clone(), key.1.clone());
                    let pod = controller::pod_name(&set, ordinal);
                    let cap = self.settings.max_pods;
                    tracing::warn!(statefulset = %format!("{namespace}/{set}"), max_pods = cap,
                        "the simulated cluster's pod cap is reached; pods past it are not created");
                    self.event(
                        ("StatefulSet", &namespace, &set),
                        "Warning",
                        "FailedCreate",
                        format!(
                            "create Pod {pod} in StatefulSet {set} failed error: pods \"{pod}\" is forbidden: exceeded the simulated cluster's pod cap: max_pods={cap} (source.embedded.max_pods)"
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    self.at_capacity.remove(&key);
                }
            }
        }
        acted
    }

    fn carry_out(&mut self, set: &Key, spec: &SetSpec, action: Action, now: Instant) {
        let (namespace, set_name) = (set.0.as_str(), set.1.as_str());
        match action {
            Action::CreateClaim { ordinal, name } => {
                let template = self.sets[set]
                    .sts
                    .spec
                    .as_ref()
                    .and_then(|s| s.volume_claim_templates.as_ref())
                    .and_then(|t| {
                        t.iter().find(|c| {
                            name.starts_with(&format!(
                                "{}-",
                                c.metadata.name.as_deref().unwrap_or("")
                            ))
                        })
                    })
                    .cloned()
                    .unwrap_or_default();
                let mut labels = template.metadata.labels.clone().unwrap_or_default();
                labels.extend(self.selector_labels(set));
                let mut claim = core::PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace.to_owned()),
                        labels: Some(labels),
                        creation_timestamp: Some(now_time()),
                        ..ObjectMeta::default()
                    },
                    // The provisioner binds it (volumes.rs).
                    spec: template.spec.clone(),
                    status: None,
                };
                self.bind_claim(&mut claim);
                self.claims
                    .insert((namespace.to_owned(), name.clone()), claim);
                let pod = controller::pod_name(set_name, ordinal);
                self.event(
                    ("StatefulSet", namespace, set_name),
                    "Normal",
                    "SuccessfulCreate",
                    format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success"),
                );
            }
            Action::DeleteClaim { name, .. } => {
                self.remove_claim(&(namespace.to_owned(), name.clone()));
                self.event(
                    ("StatefulSet", namespace, set_name),
                    "Normal",
                    "SuccessfulDelete",
                    format!("delete Claim {name} in StatefulSet {set_name} successful"),
                );
            }
            Action::CreatePod { ordinal, revision } => {
                let pod = self.new_pod(set, spec, ordinal, &revision, now);
                let name = controller::pod_name(set_name, ordinal);
                self.pods.insert((namespace.to_owned(), name.clone()), pod);
                self.render_pod_status(&(namespace.to_owned(), name.clone()));
                self.event(
                    ("StatefulSet", namespace, set_name),
                    "Normal",
                    "SuccessfulCreate",
                    format!("create Pod {name} in StatefulSet {set_name} successful"),
                );
                self.event(
                    ("Pod", namespace, &name),
                    "Normal",
                    "Scheduled",
                    format!("Successfully assigned {namespace}/{name} to {NODE}"),
                );
            }
            // Handled by the caller, which says it once per episode.
            Action::NoCapacity { .. } => {}
            Action::DeletePod { ordinal, reason } => {
                let name = controller::pod_name(set_name, ordinal);
                let key = (namespace.to_owned(), name.clone());
                if reason == DeleteReason::Failed {
                    // A failed pod is removed at once (no graceful stop).
                    if let Some(pod) = self.pods.remove(&key)
                        && let Some(ip) = pod.ip
                    {
                        self.ips.release(ip);
                    }
                    self.event(
                        ("StatefulSet", namespace, set_name),
                        "Warning",
                        "RecreatingFailedPod",
                        format!(
                            "StatefulSet {namespace}/{set_name} is recreating failed Pod {name}"
                        ),
                    );
                } else {
                    let _ = self.delete(Resource::Pods, namespace, &name, now);
                }
                self.event(
                    ("StatefulSet", namespace, set_name),
                    "Normal",
                    "SuccessfulDelete",
                    format!("delete Pod {name} in StatefulSet {set_name} successful"),
                );
            }
        }
    }

    fn selector_labels(&self, set: &Key) -> BTreeMap<String, String> {
        self.sets[set]
            .sts
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default()
    }

    /// A new pod of a set at `ordinal`, from the template of `revision`.
    fn new_pod(
        &self,
        set: &Key,
        spec: &SetSpec,
        ordinal: u32,
        revision: &str,
        now: Instant,
    ) -> SimPod {
        let entry = &self.sets[set];
        let template = entry
            .revisions
            .get(revision)
            .cloned()
            .or_else(|| entry.sts.spec.as_ref().map(|s| s.template.clone()))
            .unwrap_or_default();
        let name = controller::pod_name(&spec.name, ordinal);
        let mut meta = template.metadata.clone().unwrap_or_default();
        let mut labels = meta.labels.take().unwrap_or_default();
        labels.insert(
            "statefulset.kubernetes.io/pod-name".to_owned(),
            name.clone(),
        );
        labels.insert("controller-revision-hash".to_owned(), revision.to_owned());
        labels.insert(
            "apps.kubernetes.io/pod-index".to_owned(),
            ordinal.to_string(),
        );
        let mut pod_spec = template.spec.clone().unwrap_or_default();
        pod_spec.hostname = Some(name.clone());
        pod_spec.subdomain = entry.sts.spec.as_ref().and_then(|s| s.service_name.clone());
        pod_spec.node_name = Some(NODE.to_owned());
        let claim_templates = &spec.claim_templates;
        if !claim_templates.is_empty() {
            let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
            for t in claim_templates {
                volumes.retain(|v| &v.name != t);
                volumes.push(core::Volume {
                    name: t.clone(),
                    persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                        claim_name: controller::claim_name(t, &spec.name, ordinal),
                        read_only: None,
                    }),
                    ..Default::default()
                });
            }
        }
        let pod = core::Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(set.0.clone()),
                labels: Some(labels),
                annotations: meta.annotations.take(),
                creation_timestamp: Some(now_time()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "apps/v1".to_owned(),
                    kind: "StatefulSet".to_owned(),
                    name: spec.name.clone(),
                    uid: entry.sts.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            spec: Some(pod_spec),
            status: None,
        };
        SimPod {
            pod,
            ordinal: Some(ordinal),
            revision: revision.to_owned(),
            set: Some(spec.name.clone()),
            created: now,
            started: None,
            ready_since: None,
            deleting: None,
            failed: false,
            unready: false,
            fail_start: false,
            ip: None,
            unschedulable: false,
        }
    }

    fn update_set_status(&mut self) {
        let keys: Vec<Key> = self.sets.keys().cloned().collect();
        for key in keys {
            let spec = set_spec(&self.sets[&key].sts);
            let pods = self.pod_views(&key);
            let st = controller::status(&spec, &pods);
            let entry = self.sets.get_mut(&key).expect("key from the map");
            let generation = entry.sts.metadata.generation;
            let status = entry.sts.status.get_or_insert_with(Default::default);
            status.replicas = st.replicas as i32;
            status.ready_replicas = Some(st.ready_replicas as i32);
            status.available_replicas = Some(st.ready_replicas as i32);
            status.current_replicas = Some(st.current_replicas as i32);
            status.updated_replicas = Some(st.updated_replicas as i32);
            status.current_revision = Some(st.current_revision.clone());
            status.update_revision = Some(st.update_revision);
            status.observed_generation = generation;
            // Revisions no pod uses and that are neither current nor update
            // are history, kept up to revisionHistoryLimit.
            let mut live: BTreeSet<String> = pods.iter().map(|p| p.revision.clone()).collect();
            live.insert(st.current_revision);
            live.insert(spec.update_revision);
            let limit = revisions::history_limit(&entry.sts);
            entry.revisions.prune(&live, limit);
        }
    }

    /// Recomputes the slices of every service with a selector, as the
    /// EndpointSlice controller does: one slice per address family (more
    /// past 100 endpoints), ready/serving/terminating conditions, hostname
    /// when the pod's subdomain is the service.
    fn generate_slices(&mut self) {
        let mut generated = BTreeMap::new();
        for ((namespace, name), svc) in &self.services {
            let Some(spec) = &svc.spec else { continue };
            let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let publish = spec.publish_not_ready_addresses.unwrap_or(false);
            let mut by_family: BTreeMap<&str, Vec<discovery::Endpoint>> = BTreeMap::new();
            let mut ports: BTreeMap<&str, Vec<discovery::EndpointPort>> = BTreeMap::new();
            for sim in self.pods.values() {
                if sim.pod.metadata.namespace.as_deref() != Some(namespace)
                    || !selects(selector, sim.pod.metadata.labels.as_ref())
                    || sim.failed
                {
                    continue;
                }
                let Some(ip) = sim.ip else { continue };
                let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                let pod_spec = sim.pod.spec.as_ref();
                let hostname = pod_spec
                    .filter(|s| s.subdomain.as_deref() == Some(name.as_str()))
                    .and_then(|s| s.hostname.clone());
                let terminating = sim.deleting.is_some();
                let ready = sim.ready();
                by_family
                    .entry(family)
                    .or_default()
                    .push(discovery::Endpoint {
                        addresses: vec![ip.to_string()],
                        conditions: Some(discovery::EndpointConditions {
                            ready: Some(publish || (ready && !terminating)),
                            serving: Some(ready || (publish && !terminating)),
                            terminating: Some(terminating),
                        }),
                        hostname,
                        node_name: Some(NODE.to_owned()),
                        target_ref: Some(core::ObjectReference {
                            kind: Some("Pod".to_owned()),
                            namespace: Some(namespace.clone()),
                            name: sim.pod.metadata.name.clone(),
                            uid: sim.pod.metadata.uid.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                ports
                    .entry(family)
                    .or_insert_with(|| service_ports(spec, &sim.pod));
            }
            for (family, mut endpoints) in by_family {
                endpoints.sort_by(|a, b| {
                    a.target_ref
                        .as_ref()
                        .and_then(|t| t.name.clone())
                        .cmp(&b.target_ref.as_ref().and_then(|t| t.name.clone()))
                });
                for (chunk, part) in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE).enumerate() {
                    let slice_name = format!(
                        "{name}-{}",
                        suffix(&format!("{namespace}/{name}/{family}/{chunk}"), 5)
                    );
                    let mut labels = BTreeMap::new();
                    labels.insert("kubernetes.io/service-name".to_owned(), name.clone());
                    labels.insert(
                        "endpointslice.kubernetes.io/managed-by".to_owned(),
                        "endpointslice-controller.k8s.io".to_owned(),
                    );
                    if spec.cluster_ip.as_deref() == Some("None") {
                        labels.insert("service.kubernetes.io/headless".to_owned(), String::new());
                    }
                    let slice = discovery::EndpointSlice {
                        metadata: ObjectMeta {
                            name: Some(slice_name.clone()),
                            namespace: Some(namespace.clone()),
                            labels: Some(labels),
                            generate_name: Some(format!("{name}-")),
                            owner_references: Some(vec![OwnerReference {
                                api_version: "v1".to_owned(),
                                kind: "Service".to_owned(),
                                name: name.clone(),
                                uid: svc.metadata.uid.clone().unwrap_or_default(),
                                controller: Some(true),
                                block_owner_deletion: Some(true),
                            }]),
                            creation_timestamp: self
                                .generated
                                .get(&(namespace.clone(), slice_name.clone()))
                                .and_then(|s| s.metadata.creation_timestamp.clone())
                                .or_else(|| Some(now_time())),
                            ..ObjectMeta::default()
                        },
                        address_type: family.to_owned(),
                        endpoints: part.to_vec(),
                        ports: ports.get(family).cloned(),
                    };
                    generated.insert((namespace.clone(), slice_name), slice);
                }
            }
        }
        self.generated = generated;
    }

    /// The DNS view of the cluster.
    fn dns_state(&self) -> ClusterState {
        let mut objects: Vec<Object> = Vec::new();
        objects.extend(self.services.values().cloned().map(Object::Service));
        objects.extend(
            self.static_slices
                .values()
                .cloned()
                .map(Object::EndpointSlice),
        );
        objects.extend(self.generated.values().cloned().map(Object::EndpointSlice));
        objects.extend(
            self.static_endpoints
                .values()
                .cloned()
                .map(Object::Endpoints),
        );
        objects.extend(
            self.sets
                .values()
                .map(|e| Object::StatefulSet(e.sts.clone())),
        );
        state_from_objects(&objects)
    }

    // ---- objects out -----------------------------------------------------------

    /// Every object of a resource, as JSON, in `namespace` or all.
    pub fn list(&self, resource: Resource, namespace: Option<&str>) -> Vec<Value> {
        let in_ns = |k: &Key| namespace.is_none_or(|ns| k.0 == ns);
        let mut out: Vec<Value> = match resource {
            Resource::Namespaces => self
                .namespaces
                .values()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect(),
            Resource::Pods => self
                .pods
                .iter()
                .filter(|(k, _)| in_ns(k))
                .filter_map(|(_, p)| serde_json::to_value(&p.pod).ok())
                .collect(),
            Resource::Services => self
                .services
                .iter()
                .filter(|(k, _)| in_ns(k))
                .filter_map(|(_, o)| serde_json::to_value(o).ok())
                .collect(),
            Resource::StatefulSets => self
                .sets
                .iter()
                .filter(|(k, _)| in_ns(k))
                .filter_map(|(_, e)| serde_json::to_value(&e.sts).ok())
                .collect(),
            Resource::EndpointSlices => self
                .static_slices
                .iter()
                .chain(self.generated.iter())
                .filter(|(k, _)| in_ns(k))
                .filter_map(|(_, o)| serde_json::to_value(o).ok())
                .collect(),
            Resource::Endpoints => self
                .static_endpoints
                .iter()
                .filter(|(k, _)| in_ns(k))
                .filter_map(|(_, o)| serde_json::to_value(o).ok())
                .collect(),
            Resource::PersistentVolumeClaims => self
                .claims
                .iter()
                .filter(|(k, _)| in_ns(k))
                .filter_map(|(_, o)| serde_json::to_value(o).ok())
                .collect(),
            Resource::Events => self
                .events
                .iter()
                .filter(|e| namespace.is_none_or(|ns| e.metadata.namespace.as_deref() == Some(ns)))
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect(),
            Resource::ControllerRevisions => self.revision_objects(namespace),
            Resource::PersistentVolumes => self.volume_objects(),
            Resource::StorageClasses => self.class_objects(),
        };
        for object in &mut out {
            stamp(object, resource);
        }
        out
    }

    /// One object as JSON.
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let found = self
            .list(
                resource,
                if resource.namespaced() {
                    Some(namespace)
                } else {
                    None
                },
            )
            .into_iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name));
        found.ok_or_else(|| ApiError::not_found(&resource.plural_name(), name))
    }

    /// The current resource version (grows with every change).
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Sends watchers the differences since the last call.
    fn notify_watchers(&mut self) {
        let mut now: BTreeMap<(Resource, Key), Value> = BTreeMap::new();
        for resource in Resource::ALL {
            if resource == Resource::Events {
                continue;
            }
            for object in self.list(resource, None) {
                let ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                now.insert((resource, (ns, name)), object);
            }
        }
        let mut changes = Vec::new();
        for (id, object) in &now {
            match self.seen.get(id) {
                None => changes.push(("ADDED", id.clone(), object.clone())),
                Some(old) if old != object => {
                    changes.push(("MODIFIED", id.clone(), object.clone()))
                }
                _ => {}
            }
        }
        for (id, object) in &self.seen {
            if !now.contains_key(id) {
                changes.push(("DELETED", id.clone(), object.clone()));
            }
        }
        if changes.is_empty() {
            return;
        }
        self.resource_version += 1;
        for (kind, (resource, (namespace, _)), mut object) in changes {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert(
                    "resourceVersion".to_owned(),
                    Value::String(self.resource_version.to_string()),
                );
            }
            let _ = self.watch.send(WatchEvent {
                resource,
                kind,
                namespace,
                object,
            });
        }
        self.seen = now;
    }
}

/// Sets `apiVersion` and `kind` (k8s-openapi writes them, but be sure).
fn stamp(object: &mut Value, resource: Resource) {
    if let Some(map) = object.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version().to_owned()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind().to_owned()));
    }
}

fn to_json<T: serde::Serialize>(object: T) -> Result<Value, ApiError> {
    serde_json::to_value(object).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn first_container(pod: &core::Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// Inserts or replaces `value` under `key`; `same` decides "unchanged".
fn replace<T>(
    map: &mut BTreeMap<Key, T>,
    key: Key,
    value: T,
    same: impl Fn(&T, &T) -> bool,
) -> &'static str {
    match map.get(&key) {
        Some(old) if same(old, &value) => "unchanged",
        Some(_) => {
            map.insert(key, value);
            "configured"
        }
        None => {
            map.insert(key, value);
            "created"
        }
    }
}

pub fn object_id(object: &Object) -> (Resource, Key) {
    match object {
        Object::Namespace(o) => (
            Resource::Namespaces,
            (String::new(), o.metadata.name.clone().unwrap_or_default()),
        ),
        Object::Service(o) => (Resource::Services, key_of(&o.metadata)),
        Object::EndpointSlice(o) => (Resource::EndpointSlices, key_of(&o.metadata)),
        Object::Endpoints(o) => (Resource::Endpoints, key_of(&o.metadata)),
        Object::StatefulSet(o) => (Resource::StatefulSets, key_of(&o.metadata)),
    }
}

fn object_json(object: &Object) -> Value {
    match object {
        Object::Namespace(o) => serde_json::to_value(o),
        Object::Service(o) => serde_json::to_value(o),
        Object::EndpointSlice(o) => serde_json::to_value(o),
        Object::Endpoints(o) => serde_json::to_value(o),
        Object::StatefulSet(o) => serde_json::to_value(o),
    }
    .unwrap_or(Value::Null)
}

/// The slice ports of a service for one pod: service ports resolved to the
/// pod's container ports (`targetPort` by number or by name).
fn service_ports(spec: &core::ServiceSpec, pod: &core::Pod) -> Vec<discovery::EndpointPort> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let container_ports: Vec<&core::ContainerPort> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .collect();
    spec.ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let port = match &p.target_port {
                None => p.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(name)) => container_ports
                    .iter()
                    .find(|c| c.name.as_deref() == Some(name.as_str()))
                    .map(|c| c.container_port)?,
            };
            Some(discovery::EndpointPort {
                name: p.name.clone(),
                port: Some(port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_owned())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::manifest::parse_objects;
    use std::path::Path;

    const WALKTHROUGH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: nginx-demo, namespace: demo, labels: {app: nginx}}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: web, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web-demo, namespace: demo}
spec:
  serviceName: nginx-demo
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
        - name: nginx
          image: nginx:1.19.2-alpine
          ports: [{name: web, containerPort: 80}]
  volumeClaimTemplates:
    - metadata: {name: www}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
"#;

    fn settings() -> SimSettings {
        SimSettings {
            pod_cidr: "10.244.0.0/16".parse().unwrap(),
            service_cidr: "10.96.0.0/12".parse().unwrap(),
            start_delay: Duration::from_millis(100),
            ready_delay: Duration::from_millis(100),
            terminate_delay: Duration::from_millis(100),
            max_pods: 10_000,
        }
    }

    fn walkthrough() -> (Cluster, Instant) {
        let mut c = Cluster::new(settings());
        let now = Instant::now();
        c.apply(
            parse_objects(WALKTHROUGH, Path::new("w.yaml")).unwrap(),
            now,
        )
        .unwrap();
        (c, now)
    }

    /// Steps the cluster through its own timers until nothing is due.
    fn run(c: &mut Cluster, mut now: Instant) -> Instant {
        c.step(now);
        for _ in 0..1000 {
            let Some(next) = c.next_wakeup() else {
                return now;
            };
            now = now.max(next);
            c.step(now);
        }
        panic!("never settled")
    }

    fn pod_ip(c: &Cluster, name: &str) -> Option<IpAddr> {
        c.pods
            .get(&("demo".to_owned(), name.to_owned()))
            .and_then(|p| p.ip)
    }

    fn messages(c: &Cluster) -> Vec<String> {
        c.events
            .iter()
            .filter(|e| e.involved_object.kind.as_deref() == Some("StatefulSet"))
            .filter_map(|e| e.message.clone())
            .collect()
    }

    #[test]
    fn walkthrough_creates_ready_pods_with_claims_and_endpoints() {
        let (mut c, now) = walkthrough();
        run(&mut c, now);
        let names: Vec<&str> = c.pods.keys().map(|k| k.1.as_str()).collect();
        assert_eq!(names, ["web-demo-0", "web-demo-1"]);
        assert!(c.pods.values().all(SimPod::ready));
        assert!(
            c.claims
                .contains_key(&("demo".to_owned(), "www-web-demo-0".to_owned()))
        );
        let ev = messages(&c);
        assert!(
            ev.contains(&"create Pod web-demo-0 in StatefulSet web-demo successful".to_owned()),
            "{ev:?}"
        );
        assert!(
            ev.contains(
                &"create Claim www-web-demo-0 Pod web-demo-0 in StatefulSet web-demo success"
                    .to_owned()
            ),
            "{ev:?}"
        );
        let state = c.dns_state();
        assert_eq!(state.slices.len(), 1);
        let hosts: Vec<String> = state.slices[0]
            .endpoints
            .iter()
            .filter_map(|e| e.hostname.as_deref().map(str::to_owned))
            .collect();
        assert_eq!(hosts, ["web-demo-0", "web-demo-1"]);
        assert!(state.slices[0].endpoints.iter().all(|e| e.ready));
        assert_eq!(&*state.slices[0].ports[0].name, "web");
        let sts = c.get(Resource::StatefulSets, "demo", "web-demo").unwrap();
        assert_eq!(sts.pointer("/status/readyReplicas"), Some(&Value::from(2)));
    }

    #[test]
    fn ordered_creation_waits_for_ready() {
        let (mut c, now) = walkthrough();
        c.step(now);
        assert_eq!(c.pods.len(), 1, "only web-demo-0 before it is ready");
        let mut t = now;
        // Running but not yet Ready: still one pod.
        t += Duration::from_millis(150);
        c.step(t);
        assert_eq!(c.pods.len(), 1);
        t += Duration::from_millis(100);
        c.step(t);
        assert_eq!(c.pods.len(), 2, "web-demo-1 once web-demo-0 is Ready");
    }

    #[test]
    fn deleted_pod_returns_with_same_name_and_new_ip() {
        let (mut c, now) = walkthrough();
        let now = run(&mut c, now);
        let before = pod_ip(&c, "web-demo-0").unwrap();
        c.delete(Resource::Pods, "demo", "web-demo-0", now).unwrap();
        c.step(now);
        // Terminating: its endpoint is not ready; the IP is still held.
        let state = c.dns_state();
        let ep = state.slices[0]
            .endpoints
            .iter()
            .find(|e| e.hostname.as_deref() == Some("web-demo-0"))
            .unwrap();
        assert!(!ep.ready);
        run(&mut c, now);
        let after = pod_ip(&c, "web-demo-0").unwrap();
        assert_ne!(before, after, "a restarted pod gets a new IP");
        assert!(c.pods.values().all(SimPod::ready));
    }

    #[test]
    fn scale_and_rolling_update_through_the_api() {
        let (mut c, now) = walkthrough();
        let now = run(&mut c, now);
        c.patch_set(
            "demo",
            "web-demo",
            &serde_json::json!({"spec": {"replicas": 4}}),
        )
        .unwrap();
        let now = run(&mut c, now);
        assert_eq!(c.pods.len(), 4);
        let sts = c.get(Resource::StatefulSets, "demo", "web-demo").unwrap();
        let old_rev = sts.pointer("/status/currentRevision").unwrap().clone();
        c.patch_set(
            "demo",
            "web-demo",
            &serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.20"}]}}}}),
        )
        .unwrap();
        run(&mut c, now);
        let deletes: Vec<String> = messages(&c)
            .into_iter()
            .filter(|m| m.starts_with("delete Pod"))
            .collect();
        assert_eq!(
            deletes,
            [
                "delete Pod web-demo-3 in StatefulSet web-demo successful",
                "delete Pod web-demo-2 in StatefulSet web-demo successful",
                "delete Pod web-demo-1 in StatefulSet web-demo successful",
                "delete Pod web-demo-0 in StatefulSet web-demo successful",
            ]
        );
        let sts = c.get(Resource::StatefulSets, "demo", "web-demo").unwrap();
        assert_ne!(sts.pointer("/status/currentRevision").unwrap(), &old_rev);
        assert_eq!(
            sts.pointer("/status/updatedReplicas"),
            Some(&Value::from(4))
        );
        assert!(c.pods.values().all(|p| first_image(&p.pod) == "nginx:1.20"));
    }

    fn first_image(pod: &core::Pod) -> String {
        pod.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    }

    #[test]
    fn faults_kill_unready_and_fail_start() {
        let (mut c, now) = walkthrough();
        let now = run(&mut c, now);
        c.fault("demo", "web-demo-1", Fault::Unready).unwrap();
        c.step(now);
        let state = c.dns_state();
        let ready: Vec<bool> = state.slices[0].endpoints.iter().map(|e| e.ready).collect();
        assert_eq!(ready, [true, false]);
        c.fault("demo", "web-demo-1", Fault::Ready).unwrap();
        let before = pod_ip(&c, "web-demo-1").unwrap();
        c.fault("demo", "web-demo-1", Fault::Kill).unwrap();
        let now = run(&mut c, now);
        assert_ne!(
            pod_ip(&c, "web-demo-1").unwrap(),
            before,
            "killed pod replaced with a new IP"
        );
        c.fault("demo", "web-demo-1", Fault::FailStart).unwrap();
        c.delete(Resource::Pods, "demo", "web-demo-1", now).unwrap();
        run(&mut c, now);
        let pod = c.get(Resource::Pods, "demo", "web-demo-1").unwrap();
        // The recreated pod is a new pod without the fault.
        assert_eq!(pod.pointer("/status/phase"), Some(&Value::from("Running")));
        assert_eq!(c.fault("demo", "nope", Fault::Kill).unwrap_err().code, 404);
    }

    #[test]
    fn ip_pool_never_reuses_a_held_address_and_moves_on() {
        let mut pool = IpPool::new("10.0.0.0/29".parse().unwrap());
        let a: Vec<IpAddr> = (0..5).filter_map(|_| pool.allocate()).collect();
        assert_eq!(a.len(), 5, "offsets 2..=6 of a /29");
        assert!(pool.allocate().is_none(), "exhausted");
        pool.release(a[2]);
        assert_eq!(pool.allocate(), Some(a[2]));
        let set: BTreeSet<IpAddr> = a.iter().copied().collect();
        assert_eq!(set.len(), 5);
    }

    #[test]
    fn manifest_reload_applies_only_changes_and_prunes() {
        let mut c = Cluster::new(settings());
        let now = Instant::now();
        let objects = parse_objects(WALKTHROUGH, Path::new("w.yaml")).unwrap();
        c.apply_manifests(objects.clone(), now).unwrap();
        let now = run(&mut c, now);
        // A user scales; a reload of unchanged files keeps that.
        c.patch_set(
            "demo",
            "web-demo",
            &serde_json::json!({"spec": {"replicas": 3}}),
        )
        .unwrap();
        let results = c.apply_manifests(objects.clone(), now).unwrap();
        assert!(results.is_empty(), "{results:?}");
        assert_eq!(
            set_spec(&c.sets[&("demo".to_owned(), "web-demo".to_owned())].sts).replicas,
            3
        );
        // The Service leaves the files: it is deleted.
        let results = c.apply_manifests(objects[1..].to_vec(), now).unwrap();
        assert_eq!(results, ["service \"nginx-demo\" deleted"]);
    }

    #[test]
    fn invalid_sets_are_rejected_with_field() {
        let mut c = Cluster::new(settings());
        let bad = WALKTHROUGH.replace("replicas: 2", "replicas: -1");
        let err = c
            .apply(
                parse_objects(&bad, Path::new("w.yaml")).unwrap(),
                Instant::now(),
            )
            .unwrap_err();
        assert!(err.message.contains("spec.replicas"), "{err}");
        let bad = WALKTHROUGH.replace("matchLabels: {app: nginx}", "matchLabels: {app: other}");
        let err = c
            .apply(
                parse_objects(&bad, Path::new("w.yaml")).unwrap(),
                Instant::now(),
            )
            .unwrap_err();
        assert!(err.message.contains("selector"), "{err}");
    }
}
