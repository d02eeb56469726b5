//! `[dashboard]`: the dashboards' section of the settings file the binary
//! serves from. Ingest reads the rest of that file and hands this section
//! over untouched ([`IngestSettings::load_beside`]); [`load`] reads both.

use std::path::Path;

use invigil_ingest::settings::{IngestSettings, SettingsError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSettings {
    /// Topic the pipeline publishes live counters to; empty turns the live
    /// wall off.
    pub live_topic: String,
    /// How long a presigned media URL works, in seconds.
    pub media_url_secs: u64,
    /// Most events one review timeline returns.
    pub max_timeline_events: usize,
    /// A ClickHouse server (HTTP) the review pages read, for a standalone
    /// `invigil ingest`; empty: no review data unless the process shares a
    /// store with an in-process pipeline.
    pub clickhouse_url: String,
    pub clickhouse_database: String,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            live_topic: "proctor_live".into(),
            media_url_secs: 300,
            max_timeline_events: 20_000,
            clickhouse_url: String::new(),
            clickhouse_database: "default".into(),
        }
    }
}

impl DashboardSettings {
    /// The section's value as written (absent: the defaults).
    pub fn from_section(section: Option<toml::Value>) -> Result<Self, SettingsError> {
        let settings: Self = match section {
            Some(value) => value.try_into().map_err(|e| SettingsError::Invalid(format!("[dashboard]: {e}")))?,
            None => Self::default(),
        };
        settings.check()?;
        Ok(settings)
    }

    /// Rules serde cannot express.
    pub fn check(&self) -> Result<(), SettingsError> {
        if !(10..=7 * 24 * 3600).contains(&self.media_url_secs) {
            return Err(SettingsError::Invalid(format!(
                "dashboard.media_url_secs = {} is outside 10…604800 (SigV4's limit)",
                self.media_url_secs
            )));
        }
        Ok(())
    }
}

/// The settings file the binary serves from (defaults if `None`): ingest's
/// part, with its environment overrides, and `[dashboard]`.
pub fn load(path: Option<&Path>) -> Result<(IngestSettings, DashboardSettings), SettingsError> {
    let (ingest, mut sections) = IngestSettings::load_beside(path, &["dashboard"])?;
    let dashboard = DashboardSettings::from_section(sections.remove("dashboard"))?;
    Ok((ingest, dashboard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_files_dashboard_section_documents_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/dev/ingest.example.toml");
        let text = std::fs::read_to_string(&example).unwrap();
        let (_, mut sections) = IngestSettings::from_toml_beside(&text, &["dashboard"]).unwrap();
        let section = sections.remove("dashboard").expect("the example has a [dashboard] section");
        assert_eq!(DashboardSettings::from_section(Some(section.clone())).unwrap(), DashboardSettings::default());
        // Every key of the defaults is written out in the example.
        let written = section.as_table().expect("a table");
        let defaults = toml::Value::try_from(DashboardSettings::default()).unwrap();
        for key in defaults.as_table().unwrap().keys() {
            assert!(written.contains_key(key), "ingest.example.toml's [dashboard] lacks `{key}`");
        }
    }

    #[test]
    fn a_bad_dashboard_section_is_refused_by_name() {
        let (_, mut sections) =
            IngestSettings::from_toml_beside("[dashboard]\nlive_topik = \"x\"\n", &["dashboard"]).unwrap();
        let error = DashboardSettings::from_section(sections.remove("dashboard")).unwrap_err();
        assert!(error.to_string().contains("live_topik"), "{error}");
        let (_, mut sections) =
            IngestSettings::from_toml_beside("[dashboard]\nmedia_url_secs = 5\n", &["dashboard"]).unwrap();
        let error = DashboardSettings::from_section(sections.remove("dashboard")).unwrap_err();
        assert!(error.to_string().contains("media_url_secs = 5"), "{error}");
        // Ingest still refuses what is neither its own nor a named section.
        assert!(IngestSettings::from_toml_beside("[dashbord]\nlive_topic = \"x\"\n", &["dashboard"]).is_err());
    }
}
