//! Refusals: the parts of an object from the API server or the manifests
//! that the DNS side will not serve, each reported once.
//!
//! A conversion (`source/convert.rs`) or a render (`index.rs`) collects in
//! one [`Refusals`] what it dropped from one object (a hostname that is not
//! a DNS label, an address that is not an IP, endpoints past a bound, a
//! name over 255 octets, a port, a whole Service), then calls
//! [`Refusals::report`]: one warning naming the object and each field
//! (`EndpointSlice demo/web-abc: endpoints[3].hostname "a_b" is not a DNS
//! label: ...`), and a count by reason, exported as
//! `headless_dns_objects_refused_total{reason}`.
//!
//! The same object arrives again and again (a watch relists; the embedded
//! cluster converts every object whenever a pod changes), so a warning is
//! given once per object and content: a fingerprint of what was refused is
//! kept per object, and a report equal to the last one for that object is
//! neither logged nor counted again. An object that comes back clean drops
//! its entry. Memory stays bounded whatever the cluster holds: an entry is
//! two hashes, there are at most [`TRACKED`], and a full table starts over
//! (an object is then warned about once more). A warning shows at most
//! [`DETAILS`] fields, then how many more there were.
//!
//! The table and the counters are process-wide, because the conversions are
//! called from the watch, the embedded cluster, `check-config` and the fuzz
//! targets, which share no state. The lock is taken once per object
//! converted or service rendered, never on the query path.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::ObjectKey;
use crate::names::quoted;

/// Objects whose last refusal is remembered; past this the table starts
/// over.
pub const TRACKED: usize = 16_384;

/// Fields a warning spells out; the rest are counted.
pub const DETAILS: usize = 5;

/// Why something was refused: the metric's `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A namespace, Service name or `kubernetes.io/service-name` that is
    /// not a DNS label: the object is refused.
    Name,
    /// An endpoint hostname that is not a DNS label: the name is dropped,
    /// the addresses stay.
    Hostname,
    /// An address that is not an IP address.
    Address,
    /// A port with no valid name, protocol or number.
    Port,
    /// More endpoints, addresses, ports or cluster IPs than the API server
    /// allows in one object: the excess is dropped.
    TooMany,
    /// A name built from the object that would be over 255 octets.
    NameTooLong,
    /// An invalid `spec.externalName`, or one pointing at the service.
    ExternalName,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Name,
        Reason::Hostname,
        Reason::Address,
        Reason::Port,
        Reason::TooMany,
        Reason::NameTooLong,
        Reason::ExternalName,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Reason::Name => "name",
            Reason::Hostname => "hostname",
            Reason::Address => "address",
            Reason::Port => "port",
            Reason::TooMany => "too_many",
            Reason::NameTooLong => "name_too_long",
            Reason::ExternalName => "external_name",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static COUNTS: [AtomicU64; Reason::ALL.len()] = [const { AtomicU64::new(0) }; Reason::ALL.len()];

/// The objects reported on, process-wide.
static TABLE: Mutex<Option<Seen>> = Mutex::new(None);

/// Per object (a hash of stage, kind and key): the fingerprint of what was
/// last reported for it.
struct Seen {
    last: HashMap<u64, u64>,
    cap: usize,
}

impl Seen {
    fn new(cap: usize) -> Self {
        Self {
            last: HashMap::new(),
            cap,
        }
    }

    /// Notes `object`'s refusals (`None`: it is clean now); returns whether
    /// they are news.
    fn note(&mut self, object: u64, fingerprint: Option<u64>) -> bool {
        let Some(fingerprint) = fingerprint else {
            self.last.remove(&object);
            return false;
        };
        if self.last.get(&object) == Some(&fingerprint) {
            return false;
        }
        if self.last.len() >= self.cap && !self.last.contains_key(&object) {
            self.last.clear();
        }
        self.last.insert(object, fingerprint);
        true
    }
}

/// Refusals reported so far in this process, by reason.
pub fn counts() -> impl Iterator<Item = (Reason, u64)> {
    Reason::ALL
        .into_iter()
        .map(|r| (r, COUNTS[r.index()].load(Ordering::Relaxed)))
}

/// What was refused of one object.
pub struct Refusals {
    kind: &'static str,
    /// Shared strings: cloning is two reference counts, and the text is
    /// made only for a warning.
    key: ObjectKey,
    id: u64,
    fingerprint: DefaultHasher,
    details: Vec<String>,
    total: usize,
    counts: [u64; Reason::ALL.len()],
}

impl Refusals {
    /// Refusals while converting `kind` `key` from the API or a manifest.
    pub fn new(kind: &'static str, key: &ObjectKey) -> Self {
        Self::at("convert", kind, key)
    }

    /// Refusals while building the names of `kind` `key` in the zone; kept
    /// apart from the conversion's, so that one does not clear the other.
    pub fn rendered(kind: &'static str, key: &ObjectKey) -> Self {
        Self::at("render", kind, key)
    }

    fn at(stage: &str, kind: &'static str, key: &ObjectKey) -> Self {
        let mut id = DefaultHasher::new();
        (stage, kind, &*key.namespace, &*key.name).hash(&mut id);
        Self {
            kind,
            key: key.clone(),
            id: id.finish(),
            fingerprint: DefaultHasher::new(),
            details: Vec::new(),
            total: 0,
            counts: [0; Reason::ALL.len()],
        }
    }

    /// Notes one refusal: `detail` names the field and says what is wrong
    /// and what is done about it. Formatted in full only for the first
    /// [`DETAILS`]; the rest are hashed without allocating.
    pub fn refuse(&mut self, reason: Reason, detail: fmt::Arguments<'_>) {
        self.total += 1;
        self.counts[reason.index()] += 1;
        reason.index().hash(&mut self.fingerprint);
        if self.details.len() < DETAILS {
            let text = detail.to_string();
            text.hash(&mut self.fingerprint);
            self.details.push(text);
        } else {
            // Hashes the text as `str::hash` would, but streamed.
            let _ = HashWriter(&mut self.fingerprint).write_fmt(detail);
            0xffu8.hash(&mut self.fingerprint);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// `EndpointSlice demo/web-abc`, long names cut short.
    fn object(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind,
            Shown(&self.key.namespace),
            Shown(&self.key.name)
        )
    }

    /// The warning line, without deduplication: what [`Self::report`]
    /// logs.
    pub fn message(&self) -> String {
        let mut line = format!("{}: {}", self.object(), self.details.join("; "));
        let more = self.total - self.details.len();
        if more > 0 {
            let _ = write!(line, "; and {more} more like these in the same object");
        }
        line
    }

    /// Logs and counts what was refused, unless it is what was last
    /// reported for this object. Returns whether it logged.
    pub fn report(self) -> bool {
        let fingerprint = (self.total > 0).then(|| self.fingerprint.finish());
        let news = TABLE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert_with(|| Seen::new(TRACKED))
            .note(self.id, fingerprint);
        if !news {
            return false;
        }
        for (count, total) in self.counts.iter().zip(&COUNTS) {
            total.fetch_add(*count, Ordering::Relaxed);
        }
        tracing::warn!("{}", self.message());
        true
    }
}

/// A name from an object, cut short for a log line.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 64 && self.0.chars().all(|c| c.is_ascii_graphic()) {
            f.write_str(self.0)
        } else {
            f.write_str(&quoted(self.0))
        }
    }
}

/// Feeds formatted text into a hasher.
struct HashWriter<'a>(&'a mut DefaultHasher);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(reason: Reason) -> u64 {
        counts().find(|(r, _)| *r == reason).map_or(0, |(_, n)| n)
    }

    #[test]
    fn a_refusal_is_reported_once_per_content() {
        // Keys unique to this test: the table is process-wide.
        let key = ObjectKey::new("refused-test", "once");
        let hostname = |value: &str| {
            let mut r = Refusals::new("EndpointSlice", &key);
            r.refuse(
                Reason::Hostname,
                format_args!("endpoints[0].hostname {} is not a DNS label", quoted(value)),
            );
            r
        };
        let first = hostname("a_b");
        assert_eq!(
            first.message(),
            "EndpointSlice refused-test/once: endpoints[0].hostname \"a_b\" is not a DNS label"
        );
        let before = count(Reason::Hostname);
        assert!(first.report(), "the first report logs");
        assert!(count(Reason::Hostname) > before);
        assert!(!hostname("a_b").report(), "the same again is silent");
        assert!(hostname("c_d").report(), "another defect logs again");
        // The render stage of the same object is apart.
        let mut rendered = Refusals::rendered("EndpointSlice", &key);
        rendered.refuse(Reason::NameTooLong, format_args!("x"));
        assert!(rendered.report());
        // Clean once: forgotten, so the old defect logs again.
        assert!(!Refusals::new("EndpointSlice", &key).report());
        assert!(hostname("c_d").report());
    }

    #[test]
    fn a_warning_shows_a_few_fields_and_counts_the_rest() {
        let key = ObjectKey::new("refused-test", "many");
        let mut r = Refusals::new("EndpointSlice", &key);
        for i in 0..50_000 {
            r.refuse(
                Reason::Address,
                format_args!("endpoints[{i}].addresses[0] \"x\" is not an IP address"),
            );
        }
        let message = r.message();
        assert!(
            message.ends_with("; and 49995 more like these in the same object"),
            "{message}"
        );
        assert_eq!(message.matches("is not an IP address").count(), DETAILS);
        // Details past the first ones still make the fingerprint.
        let mut other = Refusals::new("EndpointSlice", &key);
        for i in 0..50_000 {
            let j = if i == 49_999 { 0 } else { i };
            other.refuse(
                Reason::Address,
                format_args!("endpoints[{j}].addresses[0] \"x\" is not an IP address"),
            );
        }
        assert!(r.report());
        assert!(other.report(), "a difference past the shown fields counts");
    }

    #[test]
    fn hostile_names_are_cut_short_in_the_object() {
        let key = ObjectKey::new("demo", &"s".repeat(300));
        let object = Refusals::new("Service", &key).object();
        assert!(object.starts_with("Service demo/\"sss"), "{object}");
        assert!(object.ends_with("(300 characters)"), "{object}");
        let key = ObjectKey::new("demo", "a\nb");
        assert_eq!(
            Refusals::new("Service", &key).object(),
            "Service demo/\"a\\nb\""
        );
    }

    #[test]
    fn the_table_is_bounded_and_starts_over_when_full() {
        let mut seen = Seen::new(100);
        for object in 0..1000 {
            assert!(seen.note(object, Some(1)));
            assert!(seen.last.len() <= 100, "{}", seen.last.len());
        }
        // 999 is remembered; 0 was forgotten when the table started over.
        assert!(!seen.note(999, Some(1)));
        assert!(seen.note(0, Some(1)));
    }
}
