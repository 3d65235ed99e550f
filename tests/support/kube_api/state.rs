//! The test API server's state: the objects by key, the history of
//! events a resumed watch replays from, the open watches (sinks) each
//! change is sent to as it is recorded, paginated lists' snapshots, and the
//! log of requests served. BOOKMARKs go out from here too, under the same
//! lock, so a bookmark never overtakes an event.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use headless_dns::selector::Selector;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Resource, Served};

pub(super) type Key = (Resource, String, String);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(super) fn name(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

pub(super) struct HistoryEvent {
    pub(super) rv: u64,
    pub(super) resource: Resource,
    pub(super) namespace: String,
    pub(super) kind: EventType,
    pub(super) object: Arc<Value>,
    /// The object before a modification, for selector transitions.
    pub(super) previous: Option<Arc<Value>>,
}

/// An open watch: where its lines go and what it wants.
pub(super) struct Sink {
    pub(super) resource: Resource,
    pub(super) namespace: Option<String>,
    pub(super) selector: Selector,
    pub(super) bookmarks: bool,
    pub(super) tx: mpsc::UnboundedSender<Bytes>,
}

/// A paginated list's snapshot, kept until it is read to the end or
/// compacted.
pub(super) struct Continuation {
    pub(super) rv: u64,
    pub(super) items: Vec<Arc<Value>>,
}

pub(super) struct State {
    pub(super) rv: u64,
    pub(super) objects: BTreeMap<Key, Arc<Value>>,
    pub(super) history: Vec<HistoryEvent>,
    /// Watches and continue tokens from a resourceVersion below this are
    /// expired (410 Gone).
    pub(super) oldest: u64,
    pub(super) sinks: Vec<Sink>,
    pub(super) continuations: HashMap<u64, Continuation>,
    pub(super) next_continuation: u64,
    pub(super) served: Vec<Served>,
    pub(super) gone_served: usize,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// `true` while lists are answered; `false` holds them.
    pub(super) lists_open: tokio::sync::watch::Sender<bool>,
    /// The same for watches.
    pub(super) watches_open: tokio::sync::watch::Sender<bool>,
    pub(super) bookmark_interval: Mutex<Duration>,
    /// Lists received, answered or still held.
    pub(super) lists_received: std::sync::atomic::AtomicUsize,
}

pub(super) struct Serving {
    pub(super) token: CancellationToken,
    pub(super) accept: tokio::task::JoinHandle<()>,
}

impl State {
    /// Appends to history and sends to every watch that wants it.
    pub(super) fn record(&mut self, event: HistoryEvent) {
        let rv = event.rv;
        self.sinks.retain(|sink| {
            if let Some(line) = event_line(sink, &event) {
                return sink.tx.send(line).is_ok();
            }
            !sink.tx.is_closed()
        });
        self.history.push(event);
        debug_assert!(self.history.last().is_some_and(|e| e.rv == rv));
    }
}

/// The watch line for `event` as `sink` sees it, if it sees it at all.
/// Whether `selector` selects `object` by its `metadata.labels` (a label
/// whose value is not a string counts as absent; a valid object has none).
pub(super) fn selects(selector: &Selector, object: &Value) -> bool {
    let labels: Option<BTreeMap<String, String>> =
        object["metadata"]["labels"].as_object().map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        });
    selector.matches(labels.as_ref())
}

pub(super) fn event_line(sink: &Sink, event: &HistoryEvent) -> Option<Bytes> {
    if sink.resource != event.resource {
        return None;
    }
    if sink
        .namespace
        .as_ref()
        .is_some_and(|ns| *ns != event.namespace)
    {
        return None;
    }
    let now = selects(&sink.selector, &event.object);
    let before = event
        .previous
        .as_ref()
        .is_some_and(|p| selects(&sink.selector, p));
    let kind = match event.kind {
        EventType::Added if now => EventType::Added,
        EventType::Deleted if before => EventType::Deleted,
        EventType::Modified if now && before => EventType::Modified,
        EventType::Modified if now => EventType::Added,
        EventType::Modified if before => EventType::Deleted,
        _ => return None,
    };
    Some(line(kind.name(), &event.object))
}

pub(super) fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    text.push(b'\n');
    Bytes::from(text)
}

pub(super) fn bookmark_line(resource: Resource, rv: u64) -> Bytes {
    line(
        "BOOKMARK",
        &json!({
            "apiVersion": resource.api_version(),
            "kind": resource.kind(),
            "metadata": {"resourceVersion": rv.to_string()},
        }),
    )
}

/// Sends a BOOKMARK with the current version to every watch that asked.
/// Under the state lock, so a bookmark never overtakes an event.
pub(super) async fn bookmark_loop(shared: Arc<Shared>) {
    loop {
        let interval = *shared.bookmark_interval.lock().unwrap();
        tokio::time::sleep(interval).await;
        let mut state = shared.state.lock().unwrap();
        let rv = state.rv;
        state.sinks.retain(|sink| {
            !sink.bookmarks || sink.tx.send(bookmark_line(sink.resource, rv)).is_ok()
        });
    }
}
