//! The table of StatefulSets (`printStatefulSet`).

use super::*;

impl Printable for StatefulSet {
    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
        } else {
            &["NAME", "READY", "AGE"]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let spec = self.spec.as_ref();
        // The API server defaults spec.replicas to 1.
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let ready = self
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let mut cells = vec![
            name_of(&self.metadata),
            format!("{ready}/{desired}"),
            age(&self.metadata, now),
        ];
        if wide {
            let containers = spec
                .and_then(|s| s.template.spec.as_ref())
                .map(|s| s.containers.as_slice())
                .unwrap_or_default();
            let (names, images) = container_cells(containers);
            cells.extend([names, images]);
        }
        cells
    }
}
