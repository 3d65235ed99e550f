//! What the index keeps of an endpoint group between renders: the fields
//! answers read (addresses, hostname, readiness, ports, the service) and
//! nothing else, in boxed slices with no spare capacity. The sources hand
//! over [`EndpointGroup`]s; [`ClusterIndex`](super::ClusterIndex) turns
//! each into a [`Group`] as it applies it, and renders from those.

use std::net::IpAddr;
use std::sync::Arc;

use crate::model::{EndpointGroup, ObjectKey, Port};

/// One EndpointSlice or Endpoints object, as the index keeps it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Group {
    /// The service it belongs to.
    pub service: ObjectKey,
    pub ports: Box<[Port]>,
    pub endpoints: Box<[Member]>,
}

/// One endpoint, as the index keeps it. The pod behind it (`targetRef`)
/// is for tooling and is dropped.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Member {
    addresses: Addresses,
    pub hostname: Option<Arc<str>>,
    /// Ready, or counted as ready (`publishNotReadyAddresses` is the
    /// service's, applied at render).
    pub ready: bool,
}

/// An endpoint's addresses: nearly always one, kept inline.
#[derive(Debug, PartialEq, Eq)]
enum Addresses {
    One(IpAddr),
    Many(Box<[IpAddr]>),
}

impl Member {
    pub fn addresses(&self) -> &[IpAddr] {
        match &self.addresses {
            Addresses::One(ip) => std::slice::from_ref(ip),
            Addresses::Many(ips) => ips,
        }
    }
}

impl From<EndpointGroup> for Group {
    fn from(group: EndpointGroup) -> Self {
        let endpoints = group
            .endpoints
            .into_iter()
            .map(|e| Member {
                addresses: match e.addresses.as_slice() {
                    [ip] => Addresses::One(*ip),
                    _ => Addresses::Many(e.addresses.into_boxed_slice()),
                },
                hostname: e.hostname,
                ready: e.ready,
            })
            .collect();
        Self {
            service: group.service,
            ports: group.ports.into_boxed_slice(),
            endpoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;

    #[test]
    fn keeps_what_answers_read() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let endpoint = |addresses: Vec<IpAddr>| Endpoint {
            addresses,
            hostname: Some("web-0".into()),
            ready: false,
            target: Some("web-0".into()),
        };
        let group = Group::from(EndpointGroup {
            key: ObjectKey::new("demo", "web-abc"),
            service: ObjectKey::new("demo", "web"),
            ports: vec![],
            endpoints: vec![
                endpoint(vec![ip("10.0.0.1")]),
                endpoint(vec![ip("10.0.0.2"), ip("fd00::2")]),
                endpoint(vec![]),
            ],
        });
        assert_eq!(group.service, ObjectKey::new("demo", "web"));
        let addresses: Vec<&[IpAddr]> = group.endpoints.iter().map(Member::addresses).collect();
        assert_eq!(
            addresses,
            [
                &[ip("10.0.0.1")][..],
                &[ip("10.0.0.2"), ip("fd00::2")][..],
                &[][..]
            ]
        );
        assert!(group.endpoints.iter().all(|m| !m.ready));
        assert_eq!(group.endpoints[0].hostname.as_deref(), Some("web-0"));
    }
}
