//! What an update asks for: the profile, where the image is, what it replaces, and the
//! timeouts of the conversation.
//!
//! Owns the checks a request must pass before anything is sent (an FTP source only on the
//! NL668, a modem target only on the nRF9160 SLM). Never holds a password anywhere it could be
//! printed: [`Source`]'s `Debug` masks it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The command set the modem speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// Nordic nRF9160 with the Serial LTE Modem application: `AT#XFOTA`.
    Nrf9160Slm,
    /// Fibocom NL668: `AT+GTOTA`.
    Nl668,
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nrf9160-slm" => Ok(Self::Nrf9160Slm),
            "nl668" => Ok(Self::Nl668),
            _ => Err(format!("unknown profile {s:?}: expected nrf9160-slm or nl668")),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nrf9160Slm => "nrf9160-slm",
            Self::Nl668 => "nl668",
        })
    }
}

/// What the update replaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// The application (an MCUboot image): `AT#XFOTA=1`, or the NL668's package.
    #[default]
    App,
    /// The modem firmware, by a delta package: `AT#XFOTA=2` (nRF9160 SLM only).
    Modem,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "app" => Ok(Self::App),
            "modem" => Ok(Self::Modem),
            _ => Err(format!("unknown target {s:?}: expected app or modem")),
        }
    }
}

/// Where the modem downloads the image from.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// An `http://` or `https://` URL.
    Http {
        /// The full URL.
        url: String,
    },
    /// An FTP server (NL668 `AT+GTOTA=1`).
    Ftp {
        /// `HOST[:PORT]` of the server.
        server: String,
        /// Path of the package on the server.
        file: String,
        /// Login name.
        user: String,
        /// Login password: sent to the modem, never shown.
        password: String,
    },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { url } => f.debug_struct("Http").field("url", url).finish(),
            Self::Ftp { server, file, user, .. } => f
                .debug_struct("Ftp")
                .field("server", server)
                .field("file", file)
                .field("user", user)
                .field("password", &"***")
                .finish(),
        }
    }
}

/// One update to run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The modem's command set.
    pub profile: Profile,
    /// Where the image is.
    pub source: Source,
    /// What it replaces.
    pub target: Target,
    /// nRF9160 SLM: the credential set for HTTPS (`<sec_tag>`).
    pub sec_tag: Option<u32>,
    /// nRF9160 SLM: the access point name to download over.
    pub apn: Option<String>,
    /// Download failures retried by starting the same URL again (which resumes).
    pub retries: u32,
    /// nRF9160 SLM: reboot into the new image (`AT#XRESET`) once downloaded.
    pub activate: bool,
}

impl Request {
    /// An HTTP(S) update of the application with the defaults: 2 retries, activation.
    pub fn http(profile: Profile, url: impl Into<String>) -> Self {
        Self {
            profile,
            source: Source::Http { url: url.into() },
            target: Target::App,
            sec_tag: None,
            apn: None,
            retries: 2,
            activate: true,
        }
    }

    /// An NL668 update from an FTP server (`server` is `HOST[:PORT]`), with the defaults.
    pub fn ftp(server: &str, file: &str, user: &str, password: &str) -> Self {
        let source = Source::Ftp {
            server: server.into(),
            file: file.into(),
            user: user.into(),
            password: password.into(),
        };
        Self { source, ..Self::http(Profile::Nl668, String::new()) }
    }

    /// Checks that the profile can carry out this request.
    pub fn validate(&self) -> Result<(), String> {
        match (self.profile, &self.source) {
            (Profile::Nrf9160Slm, Source::Ftp { .. }) => {
                return Err("the nrf9160-slm downloads over HTTP(S) only: FTP is an nl668 feature".into());
            }
            (_, Source::Http { url }) if url.is_empty() => return Err("the URL is empty".into()),
            _ => {}
        }
        if self.profile == Profile::Nl668 {
            if self.target == Target::Modem {
                return Err("--target modem is an nrf9160-slm feature (AT#XFOTA=2)".into());
            }
            if self.sec_tag.is_some() || self.apn.is_some() {
                return Err("--sec-tag and --apn are nrf9160-slm parameters of AT#XFOTA".into());
            }
            if !self.activate {
                return Err(
                    "the nl668 installs by itself after the download: it cannot skip activation".into()
                );
            }
        }
        Ok(())
    }
}

/// How long the host waits for each thing (build it from [`Timeouts::default`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A command's final result.
    pub command: Duration,
    /// Between two progress URCs before the download counts as stalled.
    pub stall: Duration,
    /// From the reboot (or the first `AT`) to the banner and the result, port reopening
    /// included.
    pub reboot: Duration,
    /// Between two `AT` probes while the modem does not answer yet.
    pub probe: Duration,
    /// A modem scratch erase (`#XFOTA: 2,0` to `3,0`); Nordic's tools allow 120 s.
    pub erase: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(10),
            stall: Duration::from_secs(60),
            reboot: Duration::from_secs(120),
            probe: Duration::from_secs(1),
            erase: Duration::from_secs(120),
        }
    }
}
