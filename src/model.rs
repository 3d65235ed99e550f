//! Domain types: what the DNS side needs to know about a cluster, and nothing
//! more.
//!
//! Sources (`source/`) turn Kubernetes objects into these plain values; the
//! index (`index.rs`) keeps them and the snapshot (`snapshot.rs`) renders them
//! into records. Nothing here knows k8s-openapi, so the index, the snapshot and
//! the server can be tested with hand-made values.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// `namespace/name` of a namespaced object. Cheap to clone: the strings are
/// shared, because the same key is stored in several maps of the index.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ObjectKey {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl ObjectKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The same key in allocations of its own, made on the calling thread.
    /// The index keeps what it is given for as long as the object lives;
    /// keys moved in from a decoded list would pin that list's memory
    /// (the allocator cannot give back a page with one live object on it).
    pub fn rehomed(&self) -> Self {
        Self::new(&self.namespace, &self.name)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Pod records `a-b-c-d.N.pod.Z`: CoreDNS's `pods` modes, by the same
/// names (`dns.pod_records`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodRecords {
    /// No pod records: NXDOMAIN.
    Disabled,
    /// Any well-formed dashed address answers itself (kubeadm's default).
    #[default]
    Insecure,
    /// Only addresses that an endpoint in namespace `N` holds.
    Verified,
}

/// Transport protocol of a service port, as it appears in SRV owner names
/// (`_port._tcp.…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The SRV label, `_tcp` and so on.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "_tcp",
            Protocol::Udp => "_udp",
            Protocol::Sctp => "_sctp",
        }
    }

    /// Parses Kubernetes' spelling (`TCP`, `UDP`, `SCTP`); absent means TCP.
    pub fn from_k8s(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("TCP") => Some(Protocol::Tcp),
            Some("UDP") => Some(Protocol::Udp),
            Some("SCTP") => Some(Protocol::Sctp),
            Some(_) => None,
        }
    }
}

/// A named port. Unnamed ports get no SRV records, as in the Kubernetes DNS
/// specification.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Port {
    pub name: Arc<str>,
    pub protocol: Protocol,
    pub port: u16,
}

impl Port {
    /// The same port in an allocation of its own ([`ObjectKey::rehomed`]).
    pub fn rehomed(&self) -> Self {
        Self {
            name: Arc::from(&*self.name),
            ..self.clone()
        }
    }
}

/// How a Service is answered (Kubernetes DNS specification 1.1.0 §2.3–2.4).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum ServiceKind {
    /// `spec.clusterIP: None`: the service name gives its ready endpoints,
    /// and every endpoint has a name below it.
    #[default]
    Headless,
    /// ClusterIP, NodePort and LoadBalancer: the service name gives
    /// `spec.clusterIPs` (dual-stack), never the endpoints, and there are
    /// no names below it but SRV. Empty while no IP is allocated: no records.
    ClusterIp(Vec<IpAddr>),
    /// `type: ExternalName`: a CNAME to `spec.externalName`, lowercase and
    /// without the trailing dot.
    ExternalName(Arc<str>),
}

/// The parts of a Service that matter for DNS.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Service {
    pub key: ObjectKey,
    pub kind: ServiceKind,
    /// `spec.publishNotReadyAddresses`: every endpoint counts as ready.
    pub publish_not_ready: bool,
    /// Ports of the service spec, used when an endpoint group names none.
    pub ports: Vec<Port>,
}

impl Service {
    /// The same service in allocations of its own ([`ObjectKey::rehomed`]).
    pub fn rehomed(&self) -> Self {
        Self {
            key: self.key.rehomed(),
            kind: match &self.kind {
                ServiceKind::ExternalName(target) => {
                    ServiceKind::ExternalName(Arc::from(&**target))
                }
                kind => kind.clone(),
            },
            publish_not_ready: self.publish_not_ready,
            ports: self.ports.iter().map(Port::rehomed).collect(),
        }
    }
}

/// One endpoint: a pod (or other backend) with its addresses.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    /// `hostname` of the endpoint: for a StatefulSet pod whose subdomain is
    /// the service, the pod name.
    pub hostname: Option<Arc<str>>,
    /// `conditions.ready`; absent in the object means ready.
    pub ready: bool,
    /// The pod behind the endpoint (`targetRef`), for tooling only.
    pub target: Option<Arc<str>>,
}

/// The endpoints one EndpointSlice (or one legacy Endpoints object) holds for
/// one service. A service may have several groups; the index merges them.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EndpointGroup {
    /// The slice (or Endpoints object) itself.
    pub key: ObjectKey,
    /// The service it belongs to (`kubernetes.io/service-name`).
    pub service: ObjectKey,
    /// Named ports of the slice; these are what SRV records advertise.
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

/// What the DNS side needs of a StatefulSet: which pod names are declared,
/// so that a restarting pod's name answers NODATA, not NXDOMAIN. Three
/// numbers, never a list of names: `replicas` is whatever someone who may
/// edit the set wrote, up to 2^31-1.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct OrdinalSet {
    pub key: ObjectKey,
    /// `spec.serviceName`: the governing service whose names the pods get.
    pub service_name: Arc<str>,
    /// `spec.replicas` (default 1).
    pub replicas: u32,
    /// `spec.ordinals.start` (default 0).
    pub start: u32,
}

impl Service {
    /// `spec.clusterIP: None` (and not ExternalName).
    pub fn is_headless(&self) -> bool {
        self.kind == ServiceKind::Headless
    }
}

impl OrdinalSet {
    /// The governing service: `serviceName` in the set's namespace.
    pub fn service(&self) -> ObjectKey {
        ObjectKey {
            namespace: self.key.namespace.clone(),
            name: self.service_name.clone(),
        }
    }
}

/// Every object a source can hand over, in the shape the index keeps.
#[derive(Clone, Default, Debug, PartialEq, Hash)]
pub struct ClusterState {
    pub services: Vec<Service>,
    /// EndpointSlices (discovery.k8s.io/v1).
    pub slices: Vec<EndpointGroup>,
    /// Legacy v1 Endpoints objects.
    pub endpoints: Vec<EndpointGroup>,
    pub sets: Vec<OrdinalSet>,
}
