//! The table of ControllerRevisions (`printControllerRevision`): NAME,
//! CONTROLLER (`statefulset.apps/web`), REVISION, AGE.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::jiff::Timestamp;

use super::{Printable, age, name_of};

impl Printable for ControllerRevision {
    fn columns(_wide: bool) -> &'static [&'static str] {
        &["NAME", "CONTROLLER", "REVISION", "AGE"]
    }

    fn cells(&self, _wide: bool, now: Timestamp) -> Vec<String> {
        let controller = self
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|o| o.controller == Some(true))
            .map_or_else(
                || "<none>".to_string(),
                |o| {
                    let group = o.api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
                    let kind = o.kind.to_ascii_lowercase();
                    if group.is_empty() {
                        format!("{kind}/{}", o.name)
                    } else {
                        format!("{kind}.{group}/{}", o.name)
                    }
                },
            );
        vec![
            name_of(&self.metadata),
            controller,
            self.revision.to_string(),
            age(&self.metadata, now),
        ]
    }
}
