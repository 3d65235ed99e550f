//! The record forms a render writes, shared by the service render and
//! its owner names (`owners.rs`): address records, SRV weights, the key of
//! an SRV owner name, and the refusal of a name that does not fit the zone.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record};

use crate::names::{self, quoted};
use crate::refused::{Reason, Refusals};
use crate::snapshot::ZoneSettings;

pub(super) fn address_record(name: &Name, ip: IpAddr, ttl: u32) -> Record {
    Record::from_rdata(name.clone(), ttl, address_data(ip))
}

pub(super) fn address_data(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// A named port and its protocol: one SRV owner name.
pub(super) type SrvKey = (Arc<str>, crate::model::Protocol);

/// Notes that `relative` (below the zone) cannot be made a name: over 255
/// octets with the zone, or (for hand-made values the sources never send)
/// not a name at all.
pub(super) fn refuse_name(
    refusals: &mut Refusals,
    what: &str,
    relative: &str,
    settings: &ZoneSettings,
    outcome: &str,
) {
    let why = names::check_fits(relative, &settings.zone)
        .err()
        .unwrap_or_else(|| "is not a valid DNS name".to_owned());
    // Made of checked labels, the relative name is short enough to show
    // whole; the zone is the configured one.
    let shown = if relative.len() <= names::MAX_NAME_OCTETS {
        format!("{relative:?}")
    } else {
        quoted(relative)
    };
    refusals.refuse(
        Reason::NameTooLong,
        format_args!("{what} {shown} in the zone {why}; {outcome}"),
    );
}

/// Equal weights summing to about 10000, as CoreDNS spreads them.
pub(super) fn srv_weight(count: usize) -> u16 {
    (10000 / count.max(1)).clamp(1, usize::from(u16::MAX)) as u16
}
