//! The context every `ctl` verb runs in: the API client, the namespace,
//! where input comes from and output goes, kubectl's error forms and the
//! clock.

use std::io::Write;

use super::client::{Client, Error};

/// What every verb works with: the client, the namespace, the two output
/// streams and the clock.
pub struct Ctx<'a> {
    pub client: Client,
    pub namespace: String,
    /// Where `exec -i` and `run -i` read command lines.
    pub(super) input: &'a mut dyn std::io::BufRead,
    pub(super) out: &'a mut dyn Write,
    pub(super) err: &'a mut dyn Write,
}

impl Ctx<'_> {
    pub(super) fn print(&mut self, text: &str) {
        // A closed stdout (`| head`) is not an error worth reporting.
        let _ = self.out.write_all(text.as_bytes());
    }

    pub(super) fn eprint(&mut self, text: &str) {
        let _ = self.err.write_all(text.as_bytes());
    }

    pub(super) fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// Prints a request error as kubectl does; returns exit code 1.
    pub(super) fn fail(&mut self, error: &Error) -> u8 {
        self.flush();
        self.eprint(&format!("{}\n", error.to_kubectl()));
        1
    }

    /// Prints `error: MESSAGE`; returns exit code 1.
    pub(super) fn error(&mut self, message: &str) -> u8 {
        self.flush();
        self.eprint(&format!("error: {message}\n"));
        1
    }

    pub(super) fn now(&self) -> k8s_openapi::jiff::Timestamp {
        k8s_openapi::jiff::Timestamp::now()
    }
}
