//! The table of Events (`printEvent`, as `kubectl get events` shows them)
//! and kubectl's event order.

use super::*;

impl Printable for Event {
    fn sort_for_listing(items: &mut [Self]) {
        sort_events(items);
    }

    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &[
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "SUBOBJECT",
                "SOURCE",
                "MESSAGE",
                "FIRST SEEN",
                "COUNT",
                "NAME",
            ]
        } else {
            &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let first = match &self.first_timestamp {
            Some(t) => since(Some(t.0), now),
            None => since(self.event_time.as_ref().map(|t| t.0), now),
        };
        let mut last = match &self.last_timestamp {
            Some(t) => since(Some(t.0), now),
            None => first.clone(),
        };
        let mut count = self.count.unwrap_or(0);
        if let Some(series) = &self.series {
            last = since(series.last_observed_time.as_ref().map(|t| t.0), now);
            count = series.count.unwrap_or(0);
        } else if count == 0 {
            // Singleton events have no count in the new API.
            count = 1;
        }
        let involved = &self.involved_object;
        let kind = involved.kind.as_deref().unwrap_or_default().to_lowercase();
        let object = match involved.name.as_deref() {
            Some(name) if !name.is_empty() => format!("{kind}/{name}"),
            _ => kind,
        };
        let message = self
            .message
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_string();
        let kind = self.type_.clone().unwrap_or_default();
        let reason = self.reason.clone().unwrap_or_default();
        if wide {
            let source = self.source.clone().unwrap_or_default();
            let component = first_non_empty(source.component, self.reporting_component.clone());
            let instance = first_non_empty(source.host, self.reporting_instance.clone());
            let source = if instance.is_empty() {
                component
            } else {
                format!("{component}, {instance}")
            };
            vec![
                last,
                kind,
                reason,
                object,
                involved.field_path.clone().unwrap_or_default(),
                source,
                message,
                first,
                count.to_string(),
                name_of(&self.metadata),
            ]
        } else {
            vec![last, kind, reason, object, message]
        }
    }
}

fn first_non_empty(a: Option<String>, b: Option<String>) -> String {
    a.filter(|s| !s.is_empty()).or(b).unwrap_or_default()
}

/// Orders events by when they were last seen, oldest first, as `ctl get
/// events` prints them.
pub fn sort_events(events: &mut [Event]) {
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| {
                e.series
                    .as_ref()
                    .and_then(|s| s.last_observed_time.as_ref())
                    .map(|t| t.0)
            })
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    });
}
