//! The zone as a master file (RFC 1035 §5): for `headless-dns export-zone`
//! and the admin server's `GET /zone`.
//!
//! One record per line, absolute names (no `$ORIGIN`, no relative names),
//! `name TTL IN TYPE RDATA` separated by tabs, the SOA first and the rest in
//! canonical order (RFC 4034 §6), so two exports of the same zone compare
//! equal line by line. `app::offline` builds the zone from a config file
//! the way `serve` does, without serving it.

use std::fmt::Write as _;

use hickory_proto::rr::{Name, RData, Record};

use crate::snapshot::Snapshot;

/// Which zones to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ZoneChoice {
    /// The forward zone (`cluster.local`).
    Forward,
    /// Every reverse zone (`in-addr.arpa.`, `ip6.arpa.`), one after another.
    Reverse,
}

impl std::str::FromStr for ZoneChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "forward" => Ok(Self::Forward),
            "reverse" => Ok(Self::Reverse),
            other => Err(format!("unknown zone {other:?}: forward or reverse")),
        }
    }
}

/// RDATA in presentation form. TXT strings are quoted and escaped (hickory's
/// `Display` prints them bare); every other type we serve prints as RFC 1035
/// writes it.
fn rdata_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => {
            let mut out = String::new();
            for (i, string) in txt.txt_data.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push('"');
                for &byte in string.iter() {
                    match byte {
                        b'"' | b'\\' => {
                            out.push('\\');
                            out.push(char::from(byte));
                        }
                        0x20..=0x7e => out.push(char::from(byte)),
                        _ => {
                            let _ = write!(out, "\\{byte:03}");
                        }
                    }
                }
                out.push('"');
            }
            out
        }
        other => other.to_string(),
    }
}

/// One record as a master-file line (no newline).
pub fn record_line(record: &Record) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        record.name.to_ascii(),
        record.ttl,
        record.dns_class,
        record.record_type(),
        rdata_text(&record.data)
    )
}

/// The zone at `origin`, SOA first; `None` when it is not served. Written
/// one owner name at a time ([`Snapshot::walk`]): beside the text, only one
/// name's records are held.
pub fn master_file(snap: &Snapshot, origin: &Name) -> Option<String> {
    let mut out = String::new();
    write_master_file(snap, origin, &mut out)?;
    Some(out)
}

/// Appends the zone at `origin` to `out` as [`master_file`] writes it;
/// `None` (and nothing written) when it is not served.
pub fn write_master_file(snap: &Snapshot, origin: &Name, out: &mut String) -> Option<()> {
    let soa = snap.apex(origin)?.soa.records.first()?;
    let walk = snap.walk(origin)?;
    push_line(out, soa);
    for records in walk {
        for record in &records {
            push_line(out, record);
        }
    }
    Some(())
}

fn push_line(out: &mut String, record: &Record) {
    out.push_str(&record_line(record));
    out.push('\n');
}

/// The chosen zones, one master file after another.
pub fn master_files(snap: &Snapshot, zones: ZoneChoice) -> String {
    let origins: Vec<&Name> = match zones {
        ZoneChoice::Forward => vec![&snap.forward.origin],
        ZoneChoice::Reverse => snap.reverse.iter().map(|a| &a.origin).collect(),
    };
    let mut out = String::new();
    for origin in origins {
        write_master_file(snap, origin, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::TXT;

    #[test]
    fn txt_is_quoted_and_escaped() {
        let record = Record::from_rdata(
            Name::from_ascii("dns-version.cluster.local.").unwrap(),
            5,
            RData::TXT(TXT::from_bytes(vec![b"1.1.0", b"a \"q\" \\ \x01"])),
        );
        assert_eq!(
            record_line(&record),
            "dns-version.cluster.local.\t5\tIN\tTXT\t\"1.1.0\" \"a \\\"q\\\" \\\\ \\001\""
        );
    }
}
