//! What both download test suites share: a recorder that rebuilds the file
//! from the events the way the engine would, checking the event contract as
//! it goes.

#![allow(dead_code)]

use std::ops::ControlFlow;

use atfota_net::{DownloadError, Event, Options, Outcome, Resume, Source, StartInfo, download};

/// What an engine would have seen: the file rebuilt from the events, checked as it goes.
#[derive(Default)]
pub struct Recorder {
    /// The bytes stored so far (seed it with a prefix to test resumes).
    pub file: Vec<u8>,
    /// Every `Started`, in order.
    pub starts: Vec<StartInfo>,
    /// (attempt, cause, bytes in `file` when the retry was announced)
    pub retries: Vec<(u32, String, u64)>,
    /// Number of `Data` events.
    pub data_events: usize,
    /// The total of the latest `Started`.
    pub total: u64,
    /// A secret (a password) that must never appear in an error or a retry cause.
    pub secret: Option<&'static str>,
}

impl Recorder {
    /// A recorder that also checks `secret` never shows in errors.
    pub fn with_secret(secret: &'static str) -> Self {
        Self { secret: Some(secret), ..Self::default() }
    }

    /// Records one event, asserting the contract of `download`'s events.
    pub fn on(&mut self, event: Event<'_>) -> ControlFlow<()> {
        match event {
            Event::Started(start) => {
                assert!(start.offset <= self.file.len() as u64, "a start past the stored bytes");
                assert!(start.offset <= start.total);
                self.file.truncate(start.offset as usize);
                self.total = start.total;
                self.starts.push(start);
            }
            Event::Data(bytes) => {
                assert!(!self.starts.is_empty(), "data before Started");
                assert!(!bytes.is_empty());
                self.file.extend_from_slice(bytes);
                assert!(self.file.len() as u64 <= self.total, "more than the file size");
                self.data_events += 1;
            }
            Event::Retrying { attempt, cause } => {
                assert!(cause.is_transient());
                self.check_secret(cause);
                self.retries.push((attempt, cause.to_string(), self.file.len() as u64));
            }
            other => panic!("unexpected event {other:?}"),
        }
        ControlFlow::Continue(())
    }

    /// Downloads `source` into the recorder.
    pub fn run_source(
        &mut self,
        source: &Source,
        resume: Option<&Resume>,
        opts: &Options,
    ) -> Result<Outcome, DownloadError> {
        let result = download(source, resume, opts, &mut |e| self.on(e));
        if let Err(e) = &result {
            self.check_secret(e);
        }
        result
    }

    /// Asserts the secret, if any, shows in neither the Display nor the Debug of `e`.
    pub fn check_secret(&self, e: &DownloadError) {
        if let Some(secret) = self.secret {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "the secret leaked: {shown}");
        }
    }
}
