//! What the index keeps of an endpoint group between renders: the fields
//! answers read (addresses, hostname, readiness, ports, the service) and
//! nothing else. The sources hand over [`EndpointGroup`]s;
//! [`ClusterIndex`](super::ClusterIndex) turns each into a [`Group`] as it
//! applies it, and renders from those.
//!
//! A group's endpoints are packed into one block of octets, read back one
//! [`Member`] at a time: a ready endpoint with hostname `web-12` and one
//! IPv4 address takes 14 octets, where a struct per endpoint took 48 plus
//! an allocation for the hostname (about 8 MiB at 100,000 endpoints).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{EndpointGroup, ObjectKey, Port};

/// One EndpointSlice or Endpoints object, as the index keeps it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Group {
    /// The service it belongs to.
    pub service: ObjectKey,
    pub ports: Box<[Port]>,
    /// Every endpoint, in the order listed, as [`pack`] writes it.
    packed: Box<[u8]>,
    /// How many endpoints `packed` holds.
    count: u32,
}

/// Flags octet of a packed member: ready.
const READY: u8 = 1;
/// Address family octets.
const V4: u8 = 4;
const V6: u8 = 6;

/// One endpoint, read from its group's block. The pod behind it
/// (`targetRef`) is for tooling and is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member<'a> {
    /// The hostname as written; `None` when absent or empty.
    pub hostname: Option<&'a str>,
    /// Ready, or counted as ready (`publishNotReadyAddresses` is the
    /// service's, applied at render).
    pub ready: bool,
    /// The addresses, each a family octet then its octets.
    addresses: &'a [u8],
}

impl<'a> Member<'a> {
    /// The endpoint's addresses, in the order listed.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + use<'a> {
        read_addresses(self.addresses)
    }

    pub fn has_addresses(&self) -> bool {
        !self.addresses.is_empty()
    }
}

impl Group {
    /// The endpoints, in the order listed.
    pub fn members(&self) -> impl Iterator<Item = Member<'_>> + '_ {
        let mut rest: &[u8] = &self.packed;
        std::iter::from_fn(move || {
            let (member, tail) = unpack(rest)?;
            rest = tail;
            Some(member)
        })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }
}

/// Addresses packed as [`Member`]'s are, a family octet then the octets:
/// five octets an IPv4 address, where an `IpAddr` takes 17.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Addresses(Box<[u8]>);

impl FromIterator<IpAddr> for Addresses {
    fn from_iter<I: IntoIterator<Item = IpAddr>>(iter: I) -> Self {
        let mut out = Vec::new();
        iter.into_iter().for_each(|ip| push_address(&mut out, ip));
        Self(out.into_boxed_slice())
    }
}

impl Addresses {
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        read_addresses(&self.0)
    }
}

fn push_address(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(V4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(V6);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// The addresses [`push_address`] wrote, in order.
fn read_addresses(mut rest: &[u8]) -> impl Iterator<Item = IpAddr> + '_ {
    std::iter::from_fn(move || {
        let (&family, tail) = rest.split_first()?;
        let (ip, tail) = match family {
            V4 => {
                let (octets, tail) = tail.split_first_chunk::<4>()?;
                (IpAddr::V4(Ipv4Addr::from(*octets)), tail)
            }
            V6 => {
                let (octets, tail) = tail.split_first_chunk::<16>()?;
                (IpAddr::V6(Ipv6Addr::from(*octets)), tail)
            }
            _ => return None,
        };
        rest = tail;
        Some(ip)
    })
}

/// Appends `n` as a LEB128 varint (one octet below 128).
pub(super) fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint written by [`push_varint`].
pub(super) fn read_varint(mut rest: &[u8]) -> Option<(usize, &[u8])> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let (&octet, tail) = rest.split_first()?;
        rest = tail;
        n |= usize::from(octet & 0x7f) << shift;
        if octet & 0x80 == 0 {
            return Some((n, rest));
        }
    }
    None
}

/// One member: flags, the hostname's length and text, the length of the
/// address part, then each address as a family octet and its octets.
fn pack(out: &mut Vec<u8>, hostname: Option<&str>, ready: bool, addresses: &[IpAddr]) {
    out.push(if ready { READY } else { 0 });
    let hostname = hostname.unwrap_or_default();
    push_varint(out, hostname.len());
    out.extend_from_slice(hostname.as_bytes());
    let length: usize = addresses
        .iter()
        .map(|ip| if ip.is_ipv4() { 5 } else { 17 })
        .sum();
    push_varint(out, length);
    for ip in addresses {
        push_address(out, *ip);
    }
}

/// The member at the start of `rest` and what follows it; `None` at the
/// end (or on bytes [`pack`] did not write, never seen).
fn unpack(rest: &[u8]) -> Option<(Member<'_>, &[u8])> {
    let (&flags, rest) = rest.split_first()?;
    let (len, rest) = read_varint(rest)?;
    let (hostname, rest) = rest.split_at_checked(len)?;
    let hostname = std::str::from_utf8(hostname).ok()?;
    let (len, rest) = read_varint(rest)?;
    let (addresses, rest) = rest.split_at_checked(len)?;
    let member = Member {
        hostname: (!hostname.is_empty()).then_some(hostname),
        ready: flags & READY != 0,
        addresses,
    };
    Some((member, rest))
}

impl From<EndpointGroup> for Group {
    fn from(group: EndpointGroup) -> Self {
        let mut packed = Vec::new();
        for e in &group.endpoints {
            pack(&mut packed, e.hostname.as_deref(), e.ready, &e.addresses);
        }
        Self {
            // In allocations of their own: the decoded list's memory around
            // them is to be given back (`ObjectKey::rehomed`).
            service: group.service.rehomed(),
            ports: group.ports.iter().map(Port::rehomed).collect(),
            packed: packed.into_boxed_slice(),
            count: group.endpoints.len() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn keeps_what_answers_read_in_the_order_listed() {
        let endpoint = |hostname: Option<&str>, ready: bool, addresses: Vec<IpAddr>| Endpoint {
            addresses,
            hostname: hostname.map(Into::into),
            ready,
            target: Some("web-0".into()),
        };
        let long = "h".repeat(300);
        let group = Group::from(EndpointGroup {
            key: ObjectKey::new("demo", "web-abc"),
            service: ObjectKey::new("demo", "web"),
            ports: vec![],
            endpoints: vec![
                endpoint(Some("web-0"), true, vec![ip("10.0.0.1")]),
                endpoint(
                    None,
                    false,
                    vec![ip("fd00::2"), ip("10.0.0.2"), ip("fd00::3")],
                ),
                endpoint(Some(""), true, vec![]),
                endpoint(Some(&long), false, vec![ip("10.0.0.4")]),
            ],
        });
        assert_eq!(group.service, ObjectKey::new("demo", "web"));
        assert_eq!(group.len(), 4);
        let members: Vec<(Option<&str>, bool, Vec<IpAddr>)> = group
            .members()
            .map(|m| (m.hostname, m.ready, m.addresses().collect()))
            .collect();
        assert_eq!(
            members,
            [
                (Some("web-0"), true, vec![ip("10.0.0.1")]),
                (
                    None,
                    false,
                    vec![ip("fd00::2"), ip("10.0.0.2"), ip("fd00::3")]
                ),
                (None, true, vec![]),
                (Some(long.as_str()), false, vec![ip("10.0.0.4")]),
            ]
        );
        assert!(group.members().nth(1).unwrap().has_addresses());
        assert!(!group.members().nth(2).unwrap().has_addresses());
    }

    #[test]
    fn a_ready_named_ipv4_endpoint_takes_fourteen_octets() {
        let mut out = Vec::new();
        pack(&mut out, Some("web-12"), true, &[ip("10.1.2.3")]);
        assert_eq!(out.len(), 14);
    }

    #[test]
    fn packed_addresses_read_back_in_order() {
        let ips = [ip("fd00::1"), ip("10.0.0.1"), ip("10.0.0.2")];
        let packed: Addresses = ips.into_iter().collect();
        assert_eq!(packed.iter().collect::<Vec<_>>(), ips);
        assert_eq!(packed.0.len(), 17 + 5 + 5);
        assert_eq!(Addresses::default().iter().count(), 0);
    }

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, 127, 128, 300, 16_383, 16_384, usize::MAX] {
            let mut out = Vec::new();
            push_varint(&mut out, n);
            assert_eq!(read_varint(&out), Some((n, &[][..])), "{n}");
        }
    }
}
