//! The zone snapshot: an immutable view of every name served, and the pure
//! function that answers a question from it.
//!
//! The index (`index.rs`) renders each headless service into a
//! [`ServiceNode`] once per change and assembles a new [`Snapshot`] around
//! it; the maps are persistent (`imbl`), so a new snapshot shares every
//! untouched service with the old one and a change costs O(log n), not a copy
//! of the zone. The server loads the current snapshot without a lock
//! (`arc-swap`) and calls [`answer`]: a lookup that borrows records from the
//! snapshot and allocates nothing.

//!
//! Its rooms: `zone` (settings, the tree, [`Snapshot`], whole-zone
//! iteration), `node` (each name's records in wire form), `names` (a service's names in one block), `ptr` (the reverse zones' records), `answer` (the
//! lookup) and `walk` (a whole zone, name by name in canonical order).

mod answer;
mod names;
mod node;
mod ptr;
mod walk;
mod zone;

pub use crate::model::PodRecords;
pub use answer::{
    Answer, MAX_LABELS, Section, answer, answer_labels, synthesized_len, synthesized_wire,
};
pub use names::Names;
pub use node::{Alias, NameNode, NodeRecords, NodeRef, Rrset, RrsetRef, WireSet, decode};
pub use ptr::{PtrChange, PtrEdits, PtrTable};
pub use walk::ZoneWalk;
pub use zone::{
    Apex, DeclaredOrdinals, MAX_CHAIN, NamespaceNode, SPEC_VERSION, STABLE_NEGATIVE_TTL,
    ServiceNode, Snapshot, ZoneSettings,
};
