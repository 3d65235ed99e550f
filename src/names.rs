//! Small helpers for DNS names: parsing configured zones, the checks that an
//! object's names are DNS labels and that the names built from them fit in
//! 255 octets, the dashed names of endpoints without a hostname, and
//! reverse-name arithmetic.
//!
//! The checks return what is wrong as text (`is 300 characters, over 63`),
//! for the caller to put after the object and field it read the value from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

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

/// The most octets a name may take on the wire, root label included
/// (RFC 1035 §2.3.4).
pub const MAX_NAME_OCTETS: usize = 255;

/// The most octets of one label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// A DNS label (RFC 1123) as Kubernetes names namespaces and Services: at
/// most 63 of `[a-z0-9-]`, beginning and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    check_label(s).is_ok()
}

/// [`is_dns_label`], saying what is wrong.
pub fn check_label(s: &str) -> Result<(), String> {
    label_shape(s, false)
}

/// An endpoint's `hostname`: a DNS label, in either case (DNS names are
/// case-insensitive; the name is served lowercase). A hostname with a dot
/// would put a name below another endpoint's, one with `_` or a space is
/// no host name, one over 63 characters no label at all.
pub fn check_hostname(s: &str) -> Result<(), String> {
    label_shape(s, true)
}

/// A port name as the API server takes it (`IANA_SVC_NAME`): at most 15
/// of `[a-z0-9-]` with at least one letter, no `-` at either end and no
/// `--`; either case, since the SRV owner `_name._tcp` is served
/// lowercase.
pub fn check_port_name(s: &str) -> Result<(), String> {
    label_shape(s, true)?;
    if s.len() > 15 {
        return Err(format!(
            "is {} characters, over the 15 of a port name",
            s.len()
        ));
    }
    if !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err("has no letter; a port name needs one".to_owned());
    }
    if s.contains("--") {
        return Err("has `--`; a port name may not".to_owned());
    }
    Ok(())
}

fn label_shape(s: &str, any_case: bool) -> Result<(), String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("is empty".to_owned());
    }
    if b.len() > MAX_LABEL {
        return Err(format!(
            "is {} characters, over the {MAX_LABEL} of a DNS label",
            b.len()
        ));
    }
    let allowed = |c: &u8| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || *c == b'-'
            || (any_case && c.is_ascii_uppercase())
    };
    if let Some(bad) = s.chars().find(|c| !c.is_ascii() || !allowed(&(*c as u8))) {
        let case = if any_case { "" } else { "lowercase " };
        return Err(format!(
            "is not a DNS label: {bad:?} is not a {case}letter, digit or `-`"
        ));
    }
    if b[0] == b'-' || b[b.len() - 1] == b'-' {
        return Err("is not a DNS label: it begins or ends with `-`".to_owned());
    }
    Ok(())
}

/// Octets on the wire of `relative` (dot-separated labels, none empty)
/// followed by `zone`.
pub fn octets_in_zone(relative: &str, zone: &Name) -> usize {
    // Each label costs its length plus a length octet: the text's length
    // (dots standing in for all but one length octet) plus one.
    let relative = if relative.is_empty() {
        0
    } else {
        relative.len() + 1
    };
    relative + zone_octets(zone)
}

/// Octets on the wire of a fully qualified name, root label included.
fn zone_octets(zone: &Name) -> usize {
    zone.iter().map(|label| label.len() + 1).sum::<usize>() + 1
}

/// Checks that `relative.zone` fits in 255 octets; otherwise says how long
/// it would be.
pub fn check_fits(relative: &str, zone: &Name) -> Result<(), String> {
    let octets = octets_in_zone(relative, zone);
    if octets > MAX_NAME_OCTETS {
        return Err(format!(
            "would be {octets} octets, over the {MAX_NAME_OCTETS} of a DNS name"
        ));
    }
    Ok(())
}

/// A value from an object, quoted for a log line: whole when short,
/// else its first 64 characters and its length, so a hostile megabyte
/// never reaches the log.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    match value.char_indices().nth(SHOWN) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!(
            "{:?}… ({} characters)",
            &value[..cut],
            value.chars().count()
        ),
    }
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
    fn namespace_and_service_names_are_lowercase_dns_labels() {
        for ok in ["a", "demo", "kube-system", "a1", "1a", &"x".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "Demo", "-a", "a-", "a.b", "a_b", "é", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert_eq!(
            check_label(&"x".repeat(300)).unwrap_err(),
            "is 300 characters, over the 63 of a DNS label"
        );
        assert_eq!(
            check_label("Web").unwrap_err(),
            "is not a DNS label: 'W' is not a lowercase letter, digit or `-`"
        );
    }

    #[test]
    fn hostnames_are_labels_in_either_case() {
        assert!(check_hostname("Web-0").is_ok());
        assert!(check_hostname("web-0").is_ok());
        for bad in [
            "",
            "web.0",
            "web_0",
            "web 0",
            "-web",
            "web-",
            "wéb",
            &"h".repeat(64),
        ] {
            assert!(check_hostname(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_hostname("a.b").unwrap_err(),
            "is not a DNS label: '.' is not a letter, digit or `-`"
        );
    }

    #[test]
    fn port_names_follow_iana_svc_name() {
        for ok in ["http", "HTTP", "dns-tcp", "h2", &"p".repeat(15)] {
            assert!(check_port_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "80",
            "a--b",
            "-a",
            "a_b",
            &"p".repeat(16),
            &"p".repeat(64),
        ] {
            assert!(check_port_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_measured_in_wire_octets() {
        let zone = parse_zone("cluster.local").unwrap();
        // \x03web \x04demo \x03svc \x07cluster \x05local \x00
        assert_eq!(octets_in_zone("web.demo.svc", &zone), 4 + 5 + 4 + 8 + 6 + 1);
        assert_eq!(octets_in_zone("", &zone), 15);
        assert_eq!(octets_in_zone("a", &Name::root()), 3);
        // 255 fits, 256 does not: a name of exactly the limit is built.
        let relative = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(47)
        );
        assert_eq!(octets_in_zone(&relative, &zone), 255);
        assert!(check_fits(&relative, &zone).is_ok());
        let built = Name::from_ascii(&relative).unwrap().append_domain(&zone);
        assert!(built.is_ok(), "hickory builds a name of 255 octets");
        let longer = format!("{relative}d");
        assert_eq!(
            check_fits(&longer, &zone).unwrap_err(),
            "would be 256 octets, over the 255 of a DNS name"
        );
        let built = Name::from_ascii(&longer).unwrap().append_domain(&zone);
        assert!(built.is_err(), "hickory refuses 256 octets too");
    }

    #[test]
    fn long_values_are_quoted_short() {
        assert_eq!(quoted("web-0"), "\"web-0\"");
        let long = "h".repeat(300);
        let shown = quoted(&long);
        assert!(
            shown.starts_with(&format!("\"{}\"…", "h".repeat(64))),
            "{shown}"
        );
        assert!(shown.ends_with("(300 characters)"), "{shown}");
        // Cut on a character boundary.
        assert!(quoted(&"é".repeat(100)).ends_with("(100 characters)"));
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
