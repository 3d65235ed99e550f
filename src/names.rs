//! Small helpers for DNS names: parsing configured zones, the dashed names of
//! endpoints without a hostname, and reverse-name arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// A DNS label (RFC 1123), as namespace names are: at most 63 of `[a-z0-9-]`,
/// beginning and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Parses a configured zone or host name into a lowercase, fully qualified
/// name. The error says what is wrong, for the config error to wrap.
pub fn parse_zone(text: &str) -> Result<Name, String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    let mut name =
        Name::from_ascii(text).map_err(|e| format!("{text:?} is not a DNS name: {e}"))?;
    if text.split('.').filter(|l| !l.is_empty()).count()
        != text.trim_end_matches('.').split('.').count()
    {
        return Err(format!("{text:?} has an empty label"));
    }
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// CoreDNS's name for an endpoint that has no hostname: its address with `.`
/// or `:` replaced by `-` (`10-244-0-39`, `fd00--1`).
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// Reads a dashed address back (`10-244-0-39`, `fd00--1`): the label of a
/// pod record `a-b-c-d.N.pod.Z`. Only the form [`dashed`] writes is
/// accepted, so every address has exactly one name. No allocation.
pub fn parse_dashed(label: &[u8]) -> Option<IpAddr> {
    if label.is_empty() || label.len() > 39 {
        return None;
    }
    [b'.', b':'].into_iter().find_map(|separator| {
        let mut buf = [0u8; 39];
        for (out, b) in buf.iter_mut().zip(label) {
            *out = if *b == b'-' { separator } else { *b };
        }
        let text = std::str::from_utf8(&buf[..label.len()]).ok()?;
        let ip: IpAddr = match separator {
            b'.' => IpAddr::V4(text.parse().ok()?),
            _ => IpAddr::V6(text.parse().ok()?),
        };
        // The canonical spelling only (no leading zeros, compressed IPv6).
        let mut canonical = [0u8; 39];
        let mut cursor = std::io::Cursor::new(&mut canonical[..]);
        std::io::Write::write_fmt(&mut cursor, format_args!("{ip}")).ok()?;
        let written = cursor.position() as usize;
        (canonical[..written] == buf[..label.len()]).then_some(ip)
    })
}

/// Checks `spec.externalName` as the API server does (a DNS-1123
/// subdomain, at most 253 characters; a trailing dot allowed) and returns
/// it lowercase without the dot; otherwise says what is wrong.
pub fn external_name(text: &str) -> Result<String, String> {
    let bare = text.strip_suffix('.').unwrap_or(text);
    if bare.is_empty() {
        return Err("is empty".to_owned());
    }
    if bare.len() > 253 {
        return Err(format!("is {} characters, over 253", bare.len()));
    }
    for label in bare.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{text:?} is not a DNS name: bad label {label:?}"));
        }
    }
    Ok(bare.to_ascii_lowercase())
}

/// The reverse zones that cover `cidr` exactly, on label boundaries (octets
/// for IPv4, nibbles for IPv6), as CoreDNS expands a CIDR zone:
/// `10.96.0.0/12` is the sixteen zones `96.10.in-addr.arpa.` to
/// `111.10.in-addr.arpa.`; `fd00::/48` is one `ip6.arpa.` zone. A prefix
/// needs at most 128 zones (IPv4 /9, /17, /25) or 8 (IPv6).
pub fn reverse_zones_of(cidr: ipnet::IpNet) -> Result<Vec<String>, String> {
    let cidr = cidr.trunc();
    let (label_bits, max) = match cidr {
        ipnet::IpNet::V4(_) => (8u8, 32u8),
        ipnet::IpNet::V6(_) => (4u8, 128u8),
    };
    let prefix = cidr.prefix_len();
    let boundary = prefix.div_ceil(label_bits) * label_bits;
    let labels = usize::from(boundary / label_bits);
    let subnets = cidr
        .subnets(boundary.min(max))
        .map_err(|e| format!("{cidr}: {e}"))?;
    Ok(subnets
        .map(|net| {
            let name = reverse_name(net.network()).to_ascii();
            // Keep the `labels` most significant labels of the address.
            let all: Vec<&str> = name.trim_end_matches('.').split('.').collect();
            let address_labels = all.len() - 2;
            let kept = &all[address_labels - labels..];
            format!("{}.", kept.join("."))
        })
        .collect())
}

/// The reverse name of an address, lowercase and fully qualified.
pub fn reverse_name(ip: IpAddr) -> Name {
    let mut text = String::with_capacity(74);
    match ip {
        IpAddr::V4(v4) => {
            for octet in v4.octets().iter().rev() {
                text.push_str(&octet.to_string());
                text.push('.');
            }
            text.push_str("in-addr.arpa.");
        }
        IpAddr::V6(v6) => {
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    text.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    text.push('.');
                }
            }
            text.push_str("ip6.arpa.");
        }
    }
    Name::from_ascii(&text).unwrap_or_else(|_| Name::root())
}

/// What the labels to the left of `in-addr.arpa.` / `ip6.arpa.` denote.
#[derive(Debug, PartialEq, Eq)]
pub enum ReverseQuery {
    /// A whole address.
    Address(IpAddr),
    /// A prefix (fewer labels than a whole address): the inclusive range of
    /// addresses below it.
    Prefix(IpAddr, IpAddr),
    /// Not an address or prefix at all (bad label, too many labels).
    Invalid,
}

/// Parses the labels left of `in-addr.arpa.`, leftmost first, as the wire
/// has them (so the last one is the first octet).
pub fn parse_reverse_v4(labels: &[&[u8]]) -> ReverseQuery {
    if labels.len() > 4 {
        return ReverseQuery::Invalid;
    }
    let mut octets = [0u8; 4];
    for (i, label) in labels.iter().rev().enumerate() {
        match parse_octet(label) {
            Some(o) => octets[i] = o,
            None => return ReverseQuery::Invalid,
        }
    }
    let known = labels.len() as u32;
    let lo = u32::from_be_bytes(octets);
    if known == 4 {
        return ReverseQuery::Address(IpAddr::V4(Ipv4Addr::from(lo)));
    }
    let span = if known == 0 {
        u32::MAX
    } else {
        (1u32 << (32 - 8 * known)) - 1
    };
    ReverseQuery::Prefix(
        IpAddr::V4(Ipv4Addr::from(lo)),
        IpAddr::V4(Ipv4Addr::from(lo | span)),
    )
}

/// Parses the nibble labels left of `ip6.arpa.`.
pub fn parse_reverse_v6(labels: &[&[u8]]) -> ReverseQuery {
    if labels.len() > 32 {
        return ReverseQuery::Invalid;
    }
    let mut value: u128 = 0;
    for (i, label) in labels.iter().rev().enumerate() {
        let nibble = match label {
            [c] => match (*c as char).to_digit(16) {
                Some(n) => n as u128,
                None => return ReverseQuery::Invalid,
            },
            _ => return ReverseQuery::Invalid,
        };
        value |= nibble << (124 - 4 * i);
    }
    let known = labels.len() as u32;
    if known == 32 {
        return ReverseQuery::Address(IpAddr::V6(Ipv6Addr::from(value)));
    }
    let span = if known == 0 {
        u128::MAX
    } else {
        (1u128 << (128 - 4 * known)) - 1
    };
    ReverseQuery::Prefix(
        IpAddr::V6(Ipv6Addr::from(value)),
        IpAddr::V6(Ipv6Addr::from(value | span)),
    )
}

/// A decimal octet as reverse names write it: no sign, no leading zero.
fn parse_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || (label.len() > 1 && label[0] == b'0') {
        return None;
    }
    let mut v: u16 = 0;
    for &c in label {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u16::from(c - b'0');
    }
    u8::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels() {
        for ok in ["a", "demo", "kube-system", "a1", &"x".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "Demo", "-a", "a-", "a.b", "a_b", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn reverse_zones_cover_a_cidr_on_label_boundaries() {
        let zones = |c: &str| reverse_zones_of(c.parse().unwrap());
        let twelve = zones("10.96.0.0/12").unwrap();
        assert_eq!(twelve.len(), 16);
        assert_eq!(twelve[0], "96.10.in-addr.arpa.");
        assert_eq!(twelve[15], "111.10.in-addr.arpa.");
        assert_eq!(zones("10.244.0.0/16").unwrap(), ["244.10.in-addr.arpa."]);
        assert_eq!(zones("10.244.1.7/24").unwrap(), ["1.244.10.in-addr.arpa."]);
        assert_eq!(zones("0.0.0.0/0").unwrap(), ["in-addr.arpa."]);
        assert_eq!(
            zones("fd00::/48").unwrap(),
            ["0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."]
        );
        assert_eq!(zones("fd00::/46").unwrap().len(), 4);
        // The most a prefix can need: 2^7 for IPv4, 2^3 for IPv6.
        assert_eq!(zones("10.0.0.0/9").unwrap().len(), 128);
        assert_eq!(zones("fd00::/33").unwrap().len(), 8);
    }

    #[test]
    fn dashed_addresses_read_back_only_in_canonical_form() {
        for ip in [
            "10.244.0.39",
            "0.0.0.0",
            "fd00::1",
            "1::2:3",
            "2001:db8::",
            "::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(parse_dashed(dashed(ip).as_bytes()), Some(ip), "{ip}");
        }
        for bad in [
            "10-244-0-039",
            "10-244-0",
            "10-244-0-256",
            "fd00-0-0-0-0-0-0-1",
            "x",
            "",
        ] {
            assert_eq!(parse_dashed(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn external_names_are_checked_like_the_api_server() {
        assert_eq!(external_name("DB.Example.COM.").unwrap(), "db.example.com");
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a_b.c",
            &"a".repeat(64),
            &"a.".repeat(128),
        ] {
            assert!(external_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn zones_parse_and_normalise() {
        assert_eq!(
            parse_zone("Cluster.Local").unwrap().to_ascii(),
            "cluster.local."
        );
        assert!(parse_zone("").is_err());
        assert!(parse_zone("a..b").is_err());
    }

    #[test]
    fn dashed_names() {
        assert_eq!(dashed("10.244.0.39".parse().unwrap()), "10-244-0-39");
        assert_eq!(dashed("fd00::1".parse().unwrap()), "fd00--1");
    }

    #[test]
    fn reverse_names_round_trip() {
        let v4: IpAddr = "10.244.0.39".parse().unwrap();
        let name = reverse_name(v4);
        assert_eq!(name.to_ascii(), "39.0.244.10.in-addr.arpa.");
        let labels: Vec<&[u8]> = name.iter().take(4).collect();
        assert_eq!(parse_reverse_v4(&labels), ReverseQuery::Address(v4));

        let v6: IpAddr = "fd00::1".parse().unwrap();
        let name = reverse_name(v6);
        let labels: Vec<&[u8]> = name.iter().take(32).collect();
        assert_eq!(parse_reverse_v6(&labels), ReverseQuery::Address(v6));
    }

    #[test]
    fn reverse_prefixes_and_junk() {
        let labels: Vec<&[u8]> = vec![b"244", b"10"];
        assert_eq!(
            parse_reverse_v4(&labels),
            ReverseQuery::Prefix(
                "10.244.0.0".parse().unwrap(),
                "10.244.255.255".parse().unwrap()
            )
        );
        assert_eq!(parse_reverse_v4(&[b"01"]), ReverseQuery::Invalid);
        assert_eq!(parse_reverse_v4(&[b"256"]), ReverseQuery::Invalid);
        assert_eq!(
            parse_reverse_v4(&[b"1", b"2", b"3", b"4", b"5"]),
            ReverseQuery::Invalid
        );
        assert_eq!(parse_reverse_v6(&[b"g"]), ReverseQuery::Invalid);
        assert_eq!(parse_reverse_v6(&[b"10"]), ReverseQuery::Invalid);
    }
}
