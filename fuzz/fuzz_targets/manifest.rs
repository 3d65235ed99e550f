//! The manifest parser under libFuzzer: text in (multi-document YAML, JSON
//! objects and lists, `kind: List`), objects out, and on into a zone.
//!
//! Input: the manifest file's text (invalid UTF-8 is replaced). It goes
//! through `parse_objects` as the embedded source reads a file; what parses
//! becomes a `ClusterState` and is applied to a `ClusterIndex`, which
//! publishes a snapshot, whose every zone is then walked record by record.
//!
//! What must hold, or the target panics: no input panics or hangs any of
//! these steps; a parse error names the file (`fuzz.yaml`).

#![no_main]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headless_dns::config::Config;
use headless_dns::index::ClusterIndex;
use headless_dns::snapshot::ZoneSettings;
use headless_dns::source::manifest::{parse_objects, state_from_objects};
use hickory_proto::serialize::binary::BinEncodable;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SETTINGS: Arc<ZoneSettings> = {
        let config = Config::from_str(
            "source: {embedded: {manifests: [x]}}\n",
            Path::new("fuzz.yaml"),
        )
        .expect("a config");
        Arc::new(headless_dns::app::settings::zone_settings(&config))
    };
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let objects = match parse_objects(&text, Path::new("fuzz.yaml")) {
        Ok(objects) => objects,
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("fuzz.yaml"), "{message}");
            return;
        }
    };
    let state = state_from_objects(&objects);
    let settings = SETTINGS.with(Arc::clone);
    let mut index = ClusterIndex::new(settings, Duration::from_secs(30));
    index.reset_all(state);
    index.set_synced(true);
    let Some(snapshot) = index.publish(Instant::now()) else {
        return;
    };
    for apex in snapshot.apexes() {
        if let Some(records) = snapshot.zone_records(&apex.origin) {
            for record in records {
                let _ = record.to_bytes();
            }
        }
    }
});
