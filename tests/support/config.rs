//! Config files for the tests that load manifests into the embedded
//! cluster, written once: [`Embedded`] builds `source.embedded` (the
//! manifest paths, the simulated pods' delays and cap, the file watcher)
//! plus any other sections, and writes it where the test says; [`examples`]
//! and [`demo`] are the repository's manifest folders, and [`copy_examples`]
//! copies one for a test that edits it ([`Embedded::edited_examples`] serves
//! such a copy made beside the config). Whether the server then runs
//! in-process (`support::app`) or as the binary (`support::server`) is the
//! test's choice.

use std::path::{Path, PathBuf};

/// `config/examples/`: every record form, static.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples")
}

/// `config/demo/`: the walkthrough's StatefulSet.
pub fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo")
}

/// Copies `config/examples/` into `dir/examples/`; returns that folder.
pub fn copy_examples(dir: &Path) -> PathBuf {
    let to = dir.join("examples");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// A config with `source.embedded`, built up and then written.
pub struct Embedded {
    manifests: Vec<String>,
    /// Lines under `source.embedded` after `manifests`.
    embedded: String,
    /// Top-level sections after `source`.
    rest: String,
    /// Whether [`Embedded::in_temp`] copies `config/examples/` into the
    /// folder as `examples/` (see [`Embedded::edited_examples`]).
    copy_examples: bool,
}

impl Embedded {
    /// Serves `manifests` (files or folders; relative ones are taken from
    /// the config file's folder, as the server does).
    pub fn new<P: AsRef<Path>>(manifests: impl IntoIterator<Item = P>) -> Self {
        Self {
            manifests: manifests
                .into_iter()
                .map(|m| format!("{:?}", m.as_ref().display().to_string()))
                .collect(),
            embedded: String::new(),
            rest: String::new(),
            copy_examples: false,
        }
    }

    /// Serves `examples/`, a copy of `config/examples/` that
    /// [`Embedded::in_temp`] makes beside the config, for a test that edits
    /// the manifests. [`Embedded::write`] does not copy: it rewrites the
    /// config of a folder that already holds the copy.
    pub fn edited_examples() -> Self {
        Self {
            copy_examples: true,
            ..Self::new(["examples"])
        }
    }

    /// Simulated pods that start, turn Ready and terminate after `delay`
    /// each (e.g. `"100ms"`).
    pub fn pod_delays(self, delay: &str) -> Self {
        self.with(&format!(
            "    start_delay: {delay}\n    ready_delay: {delay}\n    terminate_delay: {delay}\n"
        ))
    }

    /// At most `pods` simulated pods in the cluster.
    pub fn max_pods(self, pods: usize) -> Self {
        self.with(&format!("    max_pods: {pods}\n"))
    }

    /// The manifest file watcher off: the cluster holds what was loaded.
    pub fn no_watch(self) -> Self {
        self.with("    watch: false\n")
    }

    /// More lines under `source.embedded`, indented four spaces.
    pub fn with(mut self, lines: &str) -> Self {
        self.embedded.push_str(lines);
        self
    }

    /// Other top-level sections (`dns:`, `transfer:`, ...).
    pub fn and(mut self, sections: &str) -> Self {
        self.rest.push_str(sections);
        self
    }

    /// The config's text.
    pub fn text(&self) -> String {
        format!(
            "source:\n  embedded:\n    manifests: [{}]\n{}{}",
            self.manifests.join(", "),
            self.embedded,
            self.rest
        )
    }

    /// Writes the config to `path`; returns it.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.text()).unwrap();
        path.to_owned()
    }

    /// Writes the config as `config.yaml` in a new temporary folder (with
    /// the copy of the examples if [`Embedded::edited_examples`] made it).
    pub fn in_temp(&self) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        if self.copy_examples {
            copy_examples(dir.path());
        }
        let path = self.write(&dir.path().join("config.yaml"));
        (dir, path)
    }
}
