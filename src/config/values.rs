//! Value forms shared by the sections: durations written the human way.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Durations are written the human way: `300ms`, `2s`, `1m`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?}: {e} (write e.g. 300ms, 2s, 1m)"
        ))
    })
}
