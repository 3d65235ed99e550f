//! Kubernetes objects to the plain values of `model.rs`: one conversion per
//! kind, shared by the Kubernetes watch (`kubernetes/watch.rs`), the
//! manifests (`manifest.rs`) and the embedded cluster.
//!
//! This is where objects are checked, so that the index sees only what it
//! can serve. What cannot be served is refused here with a warning naming
//! the object and the field (through `crate::refused`, once per object
//! content), and the rest of the object, and of the zone, keeps serving:
//! - a Service, or legacy Endpoints, whose namespace or name is not a DNS
//!   label gets no records (it could only make a name that is not one, or
//!   one that lands below another service's); an EndpointSlice or
//!   StatefulSet naming such a service is ignored;
//! - an endpoint `hostname` that is not a DNS label loses its name only: the
//!   endpoint still serves its addresses in the service's A/AAAA set and
//!   under its dashed address, as an endpoint without a hostname does;
//! - an address that is not an IP address is dropped, the others stay;
//! - a port with a bad name, protocol or number is dropped;
//! - past the API server's own bounds ([`MAX_ENDPOINTS`] endpoints per
//!   slice, [`MAX_ADDRESSES`] addresses per endpoint, [`MAX_PORTS`] ports,
//!   [`MAX_CLUSTER_IPS`] cluster IPs, [`MAX_LEGACY_ADDRESSES`] addresses in
//!   legacy Endpoints), the excess is dropped unread, so what is kept of
//!   an object never grows with a number its writer chose.
//!
//! Names longer than 255 octets depend on the zone, so they are refused
//! where the names are built (`index.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{
    Endpoint, EndpointGroup, ObjectKey, OrdinalSet, Port, Protocol, Service, ServiceKind,
};
use crate::names::{self, quoted};
use crate::refused::{Reason, Refusals};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Namespace of an object that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Endpoints kept of one EndpointSlice: the API server refuses more
/// (`endpoints: Too many: must have at most 1000 items`).
pub const MAX_ENDPOINTS: usize = 1000;

/// Addresses kept of one slice endpoint (the API server's bound).
pub const MAX_ADDRESSES: usize = 100;

/// Ports kept of one Service, EndpointSlice or Endpoints object (the API
/// server's bound for slices).
pub const MAX_PORTS: usize = 100;

/// Cluster IPs kept of one Service: one per family.
pub const MAX_CLUSTER_IPS: usize = 2;

/// Addresses kept of one legacy Endpoints object, ready and not ready
/// together: the endpoints controller stops there too.
pub const MAX_LEGACY_ADDRESSES: usize = 1000;

/// Longest `targetRef.name` kept (an object name's bound); it is shown by
/// tooling only, so a longer one is dropped without a word.
const MAX_TARGET: usize = 253;

/// `namespace/name` of an object; `None` without a name.
pub(super) fn object_key(metadata: &ObjectMeta) -> Option<ObjectKey> {
    let name = metadata.name.as_deref().filter(|n| !n.is_empty())?;
    let namespace = metadata
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE);
    Some(ObjectKey::new(namespace, name))
}

/// Whether `value` (the object's `field`) is a DNS label; refuses the
/// object with `outcome` if not.
fn label_or_refuse(value: &str, field: &str, outcome: &str, refusals: &mut Refusals) -> bool {
    match names::check_label(value) {
        Ok(()) => true,
        Err(why) => {
            refusals.refuse(
                Reason::Name,
                format_args!("{field} {} {why}; {outcome}", quoted(value)),
            );
            false
        }
    }
}

/// A named port with a valid name, a known protocol and a number in
/// 1..=65535; anything else gets no SRV records. Unnamed ports are normal
/// (they get no SRV records either) and pass without a word.
fn named_port(
    name: Option<&str>,
    protocol: Option<&str>,
    port: Option<i32>,
    field: fmt_field::Field<'_>,
    refusals: &mut Refusals,
) -> Option<Port> {
    let name = name.filter(|n| !n.is_empty())?;
    if let Err(why) = names::check_port_name(name) {
        refusals.refuse(
            Reason::Port,
            format_args!(
                "{field}.name {} {why}; the port gets no SRV records",
                quoted(name)
            ),
        );
        return None;
    }
    let Some(protocol) = Protocol::from_k8s(protocol) else {
        refusals.refuse(
            Reason::Port,
            format_args!(
                "{field}.protocol {} is not TCP, UDP or SCTP; the port gets no SRV records",
                quoted(protocol.unwrap_or_default())
            ),
        );
        return None;
    };
    let number = port?;
    let Some(number) = u16::try_from(number).ok().filter(|n| *n != 0) else {
        refusals.refuse(
            Reason::Port,
            format_args!(
                "{field}.port {number} is outside 1..=65535; the port gets no SRV records"
            ),
        );
        return None;
    };
    Some(Port {
        name: name.into(),
        protocol,
        port: number,
    })
}

/// Field paths for messages, formatted only when a message is.
mod fmt_field {
    use std::fmt;

    /// `spec.ports[3]`, `endpoints[3].addresses[0]`.
    #[derive(Clone, Copy)]
    pub struct Field<'a> {
        pub parent: Option<&'a Field<'a>>,
        pub name: &'a str,
        /// `None` for a field that is not a list item.
        pub index: Option<usize>,
    }

    impl<'a> Field<'a> {
        pub fn root(name: &'a str, index: usize) -> Self {
            Self {
                parent: None,
                name,
                index: Some(index),
            }
        }

        /// An item of the list `name` inside this field.
        pub fn child(&'a self, name: &'a str, index: usize) -> Field<'a> {
            Field {
                parent: Some(self),
                name,
                index: Some(index),
            }
        }

        /// The plain field `name` inside this one.
        pub fn member(&'a self, name: &'a str) -> Field<'a> {
            Field {
                parent: Some(self),
                name,
                index: None,
            }
        }
    }

    impl fmt::Display for Field<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if let Some(parent) = self.parent {
                write!(f, "{parent}.")?;
            }
            f.write_str(self.name)?;
            match self.index {
                Some(i) => write!(f, "[{i}]"),
                None => Ok(()),
            }
        }
    }
}
use fmt_field::Field;

/// Ports of a list, at most [`MAX_PORTS`], appended to `out` without
/// repeats.
fn ports_into<'p, P: 'p>(
    out: &mut Vec<Port>,
    list: &'p [P],
    field: &str,
    parent: Option<&Field<'_>>,
    parts: impl Fn(&'p P) -> (Option<&'p str>, Option<&'p str>, Option<i32>),
    refusals: &mut Refusals,
) {
    for (i, p) in list.iter().enumerate() {
        let here = Field {
            parent,
            name: field,
            index: Some(i),
        };
        if out.len() >= MAX_PORTS {
            refusals.refuse(
                Reason::TooMany,
                format_args!(
                    "{here}: more than {MAX_PORTS} ports; this one and the rest get no SRV records"
                ),
            );
            return;
        }
        let (name, protocol, number) = parts(p);
        if let Some(port) = named_port(name, protocol, number, here, refusals)
            && !out.contains(&port)
        {
            out.push(port);
        }
    }
}

/// An endpoint address, or `None` (refused) when it is not an IP address.
fn parse_address(address: &str, field: Field<'_>, refusals: &mut Refusals) -> Option<IpAddr> {
    match address.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            refusals.refuse(
                Reason::Address,
                format_args!("{field} {} is not an IP address; dropped", quoted(address)),
            );
            None
        }
    }
}

/// An endpoint's hostname if it is a DNS label; otherwise refused, and the
/// endpoint serves as one without a hostname.
fn hostname(value: Option<&str>, field: &Field<'_>, refusals: &mut Refusals) -> Option<Arc<str>> {
    let value = value.filter(|h| !h.is_empty())?;
    match names::check_hostname(value) {
        Ok(()) => Some(value.into()),
        Err(why) => {
            refusals.refuse(
                Reason::Hostname,
                format_args!(
                    "{field}.hostname {} {why}; the endpoint gets no name of its own, its addresses still serve",
                    quoted(value)
                ),
            );
            None
        }
    }
}

fn non_empty(s: Option<&str>) -> Option<Arc<str>> {
    s.filter(|s| !s.is_empty()).map(Arc::from)
}

fn target(reference: Option<&core::ObjectReference>) -> Option<Arc<str>> {
    non_empty(reference.and_then(|t| t.name.as_deref())).filter(|t| t.len() <= MAX_TARGET)
}

/// The DNS view of a Service; `None` if it has no name, or a namespace or
/// name that is not a DNS label.
///
/// `type: ExternalName` is a CNAME to `spec.externalName` (an invalid one
/// gets no records, with a warning naming the object). Otherwise headless
/// means `spec.clusterIP: None`; when only `clusterIPs` is given, its first
/// entry stands for `clusterIP`, as the API server defaults it. Any other
/// service answers its `clusterIPs` (or `clusterIP`), whatever its type.
pub fn service_from_k8s(svc: &core::Service) -> Option<Service> {
    let key = object_key(&svc.metadata)?;
    let mut refusals = Refusals::new("Service", &key);
    let service = convert_service(svc, key, &mut refusals);
    refusals.report();
    service
}

fn convert_service(
    svc: &core::Service,
    key: ObjectKey,
    refusals: &mut Refusals,
) -> Option<Service> {
    let outcome = "the service gets no records";
    let namespace_ok = label_or_refuse(&key.namespace, "metadata.namespace", outcome, refusals);
    if !(label_or_refuse(&key.name, "metadata.name", outcome, refusals) && namespace_ok) {
        return None;
    }
    let spec = svc.spec.as_ref();
    let cluster_ip = spec.and_then(|s| {
        s.cluster_ip
            .as_deref()
            .or_else(|| s.cluster_ips.as_ref()?.first().map(String::as_str))
    });
    let mut ports = Vec::new();
    ports_into(
        &mut ports,
        spec.and_then(|s| s.ports.as_deref()).unwrap_or_default(),
        "spec.ports",
        None,
        |p| (p.name.as_deref(), p.protocol.as_deref(), Some(p.port)),
        refusals,
    );
    let kind = if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        let target = spec.and_then(|s| s.external_name.as_deref()).unwrap_or("");
        match names::external_name(target) {
            Ok(target) => ServiceKind::ExternalName(target.into()),
            Err(why) => {
                refusals.refuse(
                    Reason::ExternalName,
                    format_args!("spec.externalName {why}; the service gets no records"),
                );
                ServiceKind::ClusterIp(Vec::new())
            }
        }
    } else if cluster_ip == Some("None") {
        ServiceKind::Headless
    } else {
        let listed = spec
            .and_then(|s| s.cluster_ips.as_deref())
            .unwrap_or_default();
        let (field, written): (&str, Vec<&str>) = if listed.is_empty() {
            ("spec.clusterIP", cluster_ip.into_iter().collect())
        } else {
            (
                "spec.clusterIPs",
                listed.iter().map(String::as_str).collect(),
            )
        };
        let mut ips = Vec::new();
        for (i, text) in written.iter().enumerate() {
            let here = Field::root(field, i);
            if ips.len() >= MAX_CLUSTER_IPS {
                refusals.refuse(
                    Reason::TooMany,
                    format_args!(
                        "{here}: more than {MAX_CLUSTER_IPS} cluster IPs; this one and the rest are dropped"
                    ),
                );
                break;
            }
            if let Some(ip) = parse_address(text, here, refusals)
                && !ips.contains(&ip)
            {
                ips.push(ip);
            }
        }
        ServiceKind::ClusterIp(ips)
    };
    Some(Service {
        kind,
        publish_not_ready: spec
            .and_then(|s| s.publish_not_ready_addresses)
            .unwrap_or(false),
        ports,
        key,
    })
}

/// The endpoints of an EndpointSlice; `None` if it has no name, no
/// `kubernetes.io/service-name` label, or one (or a namespace) that is not
/// a DNS label. An FQDN slice yields no endpoints: its addresses are names,
/// not IPs.
pub fn slice_from_k8s(slice: &discovery::EndpointSlice) -> Option<EndpointGroup> {
    let key = object_key(&slice.metadata)?;
    let service_name = slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)
        .filter(|n| !n.is_empty())?;
    let mut refusals = Refusals::new("EndpointSlice", &key);
    let group = convert_slice(slice, key, service_name, &mut refusals);
    refusals.report();
    group
}

fn convert_slice(
    slice: &discovery::EndpointSlice,
    key: ObjectKey,
    service_name: &str,
    refusals: &mut Refusals,
) -> Option<EndpointGroup> {
    let outcome = "the slice is ignored";
    let namespace_ok = label_or_refuse(&key.namespace, "metadata.namespace", outcome, refusals);
    let label = format!("metadata.labels[{SERVICE_NAME_LABEL}]");
    if !(label_or_refuse(service_name, &label, outcome, refusals) && namespace_ok) {
        return None;
    }
    let service = ObjectKey {
        namespace: key.namespace.clone(),
        name: service_name.into(),
    };
    let mut ports = Vec::new();
    ports_into(
        &mut ports,
        slice.ports.as_deref().unwrap_or_default(),
        "ports",
        None,
        |p| (p.name.as_deref(), p.protocol.as_deref(), p.port),
        refusals,
    );
    let mut endpoints = Vec::new();
    if slice.address_type != "FQDN" {
        if slice.endpoints.len() > MAX_ENDPOINTS {
            refusals.refuse(
                Reason::TooMany,
                format_args!(
                    "endpoints: {} endpoints, over the {MAX_ENDPOINTS} the API server allows in one slice; serving the first {MAX_ENDPOINTS}",
                    slice.endpoints.len()
                ),
            );
        }
        endpoints.reserve(slice.endpoints.len().min(MAX_ENDPOINTS));
        for (i, e) in slice.endpoints.iter().take(MAX_ENDPOINTS).enumerate() {
            let here = Field::root("endpoints", i);
            if e.addresses.len() > MAX_ADDRESSES {
                refusals.refuse(
                    Reason::TooMany,
                    format_args!(
                        "{here}.addresses: {} addresses, over the {MAX_ADDRESSES} the API server allows; serving the first {MAX_ADDRESSES}",
                        e.addresses.len()
                    ),
                );
            }
            let addresses = e
                .addresses
                .iter()
                .take(MAX_ADDRESSES)
                .enumerate()
                .filter_map(|(j, a)| parse_address(a, here.child("addresses", j), refusals))
                .collect();
            endpoints.push(Endpoint {
                addresses,
                hostname: hostname(e.hostname.as_deref(), &here, refusals),
                ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
                target: target(e.target_ref.as_ref()),
            });
        }
    }
    Some(EndpointGroup {
        key,
        service,
        ports,
        endpoints,
    })
}

/// The endpoints of a legacy v1 Endpoints object, which belongs to the
/// Service of the same name; `None` if it has no name, or a name or
/// namespace that is not a DNS label. `addresses` are ready,
/// `notReadyAddresses` not; the ports are the union of the subsets'.
pub fn endpoints_from_k8s(ep: &core::Endpoints) -> Option<EndpointGroup> {
    let key = object_key(&ep.metadata)?;
    let mut refusals = Refusals::new("Endpoints", &key);
    let group = convert_endpoints(ep, key, &mut refusals);
    refusals.report();
    group
}

fn convert_endpoints(
    ep: &core::Endpoints,
    key: ObjectKey,
    refusals: &mut Refusals,
) -> Option<EndpointGroup> {
    let outcome = "the object is ignored";
    let namespace_ok = label_or_refuse(&key.namespace, "metadata.namespace", outcome, refusals);
    if !(label_or_refuse(&key.name, "metadata.name", outcome, refusals) && namespace_ok) {
        return None;
    }
    let mut ports: Vec<Port> = Vec::new();
    let mut endpoints = Vec::new();
    let mut over = false;
    for (s, subset) in ep.subsets.as_deref().unwrap_or_default().iter().enumerate() {
        let subset_field = Field::root("subsets", s);
        for (list, ready, name) in [
            (&subset.addresses, true, "addresses"),
            (&subset.not_ready_addresses, false, "notReadyAddresses"),
        ] {
            for (i, address) in list.as_deref().unwrap_or_default().iter().enumerate() {
                let here = subset_field.child(name, i);
                if endpoints.len() >= MAX_LEGACY_ADDRESSES {
                    if !over {
                        refusals.refuse(
                            Reason::TooMany,
                            format_args!(
                                "{here}: more than {MAX_LEGACY_ADDRESSES} addresses in one Endpoints object; this one and the rest are dropped"
                            ),
                        );
                        over = true;
                    }
                    break;
                }
                endpoints.push(Endpoint {
                    addresses: parse_address(&address.ip, here.member("ip"), refusals)
                        .into_iter()
                        .collect(),
                    hostname: hostname(address.hostname.as_deref(), &here, refusals),
                    ready,
                    target: target(address.target_ref.as_ref()),
                });
            }
        }
        ports_into(
            &mut ports,
            subset.ports.as_deref().unwrap_or_default(),
            "ports",
            Some(&subset_field),
            |p| (p.name.as_deref(), p.protocol.as_deref(), Some(p.port)),
            refusals,
        );
    }
    Some(EndpointGroup {
        service: key.clone(),
        key,
        ports,
        endpoints,
    })
}

/// The declared ordinals of a StatefulSet; `None` if it has no name or no
/// `spec.serviceName` (its pods then get no DNS names), or a service name
/// or namespace that is not a DNS label.
pub fn set_from_k8s(sts: &apps::StatefulSet) -> Option<OrdinalSet> {
    let key = object_key(&sts.metadata)?;
    let spec = sts.spec.as_ref()?;
    let service_name = non_empty(spec.service_name.as_deref())?;
    let mut refusals = Refusals::new("StatefulSet", &key);
    let outcome = "its pods get no DNS names";
    let namespace_ok =
        label_or_refuse(&key.namespace, "metadata.namespace", outcome, &mut refusals);
    let service_ok = label_or_refuse(&service_name, "spec.serviceName", outcome, &mut refusals);
    refusals.report();
    if !(namespace_ok && service_ok) {
        return None;
    }
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    Some(OrdinalSet {
        key,
        service_name,
        // Negative numbers fail API validation; treat them as none.
        replicas: u32::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0),
        start: u32::try_from(start).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests;
