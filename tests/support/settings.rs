//! The zone's settings for tests that build an index without a server,
//! written once: [`settings`] reads them from a config with every `dns`
//! default, [`settings_with`] from one whose `dns` section the test gives.
//! They go through `Config::from_str` and `app::settings::zone_settings`,
//! as the server does, so a test never builds `ZoneSettings` by hand.

use std::path::Path;
use std::sync::Arc;

use headless_dns::config::Config;
use headless_dns::snapshot::ZoneSettings;

/// The settings of a config with every `dns` default.
pub fn settings() -> Arc<ZoneSettings> {
    settings_with("")
}

/// The settings of a config whose `dns` section is `{dns}`: the inside of
/// a YAML flow map, e.g. `"ttl: 30, negative_ttl: 7"`. The source section
/// is a placeholder: the zone's settings read only `zone` and `dns`.
pub fn settings_with(dns: &str) -> Arc<ZoneSettings> {
    let text = format!("dns: {{{dns}}}\nsource: {{embedded: {{manifests: [x]}}}}\n");
    let config = Config::from_str(&text, Path::new("test.yaml"))
        .unwrap_or_else(|e| panic!("test config {text:?}: {e:#}"));
    Arc::new(headless_dns::app::settings::zone_settings(&config))
}
