//! The control channel: a line-oriented JSON side door through which a test bench changes a
//! running device — its network, its power, its next self-test — and reads its state.
//!
//! Owns the wire format (one JSON object per line each way; docs/CONTROL.md lists every
//! command) and the listener threads. What a request does is the shell's (`run.rs`): the
//! listener hands it over with a channel for the reply and writes the reply back. The channel
//! gives full control of the device, so it binds only where the user says.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read as _, Write};
use std::net::TcpListener;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::str::FromStr;
use std::thread;
use std::time::Duration;

use atfota_fota::profile::MAX_SIGNAL;
use atfota_fota::{Rat, Stimulus};
use crossbeam_channel::Sender;
use serde_json::{Value, json};

use crate::run::Input;

/// Longest request line accepted.
const MAX_LINE: usize = 4096;
/// How long a connection waits for the device to answer one request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Stack of a listener thread: it only parses lines.
const STACK: usize = 128 * 1024;

/// Where the control channel listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlAddr {
    /// A TCP address, exactly as given.
    Tcp(String),
    /// A Unix-domain socket at this path.
    Unix(PathBuf),
}

impl FromStr for ControlAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(addr) = s.strip_prefix("tcp:") {
            crate::transport::tcp_addr(addr, 6000).map(Self::Tcp)
        } else if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path after the colon, e.g. unix:/tmp/modem.ctl".into());
            }
            Ok(Self::Unix(PathBuf::from(path)))
        } else {
            Err(format!("{s}: expected unix:PATH or tcp:HOST:PORT"))
        }
    }
}

impl fmt::Display for ControlAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp:{a}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl ControlAddr {
    /// The address of device `i` of a fleet: the TCP port plus `i`, or the path with `.i`
    /// appended. Device 0 of a single device keeps the address as given.
    pub fn instance(&self, i: usize, fleet: bool) -> Result<Self, String> {
        if !fleet {
            return Ok(self.clone());
        }
        match self {
            Self::Tcp(a) => crate::transport::offset_port(a, i).map(Self::Tcp),
            Self::Unix(p) => {
                let mut s = p.clone().into_os_string();
                s.push(format!(".{i}"));
                Ok(Self::Unix(s.into()))
            }
        }
    }
}

/// One request, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// A change of the emulated network (registration, data, signal, radio, a call), carried
    /// out by the profile: `network-down`, `network-up`, `deregister`, `register`, `signal`,
    /// `rat`, `call`.
    Network(Stimulus),
    /// Link speed in bytes per second, whatever the radio; `None`: the radio's own speed.
    Rate(Option<u64>),
    /// The server connection of a running download is cut now.
    DropConnection,
    /// The power is cut now.
    PowerCut,
    /// The power comes back: the device boots.
    PowerOn,
    /// The power is cut just before the N-th flash write, erase or sync from now.
    CutAt(u64),
    /// The next newly installed image fails its self-test.
    FailSelfTest,
    /// The device's state.
    Status,
}

impl Request {
    /// Every command name, as the wire and `atfota ctl` spell them.
    pub const NAMES: &'static [&'static str] = &[
        "network-down",
        "network-up",
        "deregister",
        "register",
        "signal",
        "rat",
        "rate",
        "call",
        "drop-connection",
        "power-cut",
        "power-on",
        "cut-at",
        "fail-self-test",
        "status",
    ];

    /// Parses one request line: `{"cmd": NAME}` or `{"cmd": NAME, "value": V}`.
    pub fn parse(line: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
        let cmd = v.get("cmd").and_then(Value::as_str).ok_or("missing \"cmd\" (a string)")?;
        let value = v.get("value");
        let no_value = |r: Self| match value {
            None | Some(Value::Null) => Ok(r),
            Some(_) => Err(format!("{cmd} takes no value")),
        };
        match cmd {
            "network-down" => no_value(Self::Network(Stimulus::NetworkDown)),
            "network-up" => no_value(Self::Network(Stimulus::NetworkUp)),
            "deregister" => no_value(Self::Network(Stimulus::Deregister)),
            "register" => no_value(Self::Network(Stimulus::Register)),
            "signal" => match number(value) {
                Some(n) if n <= u64::from(MAX_SIGNAL) => Ok(Self::Network(Stimulus::Signal(n as u8))),
                _ => {
                    Err(format!("signal needs the +CSQ <rssi> index, 0 (-113 dBm) to {MAX_SIGNAL} (-51 dBm)"))
                }
            },
            "rat" => match value.and_then(Value::as_str).map(str::parse::<Rat>) {
                Some(Ok(r)) => Ok(Self::Network(Stimulus::Rat(r))),
                _ => Err("rat needs a value: lte, 3g, 2g or nb-iot".into()),
            },
            "rate" => match (value, number(value)) {
                (Some(Value::String(s)), _) if s == "auto" => Ok(Self::Rate(None)),
                (_, Some(n)) if n > 0 => Ok(Self::Rate(Some(n))),
                _ => {
                    Err("rate needs bytes per second (at least 1), or \"auto\" for the radio's own speed"
                        .into())
                }
            },
            "call" => no_value(Self::Network(Stimulus::IncomingCall)),
            "drop-connection" => no_value(Self::DropConnection),
            "power-cut" => no_value(Self::PowerCut),
            "power-on" => no_value(Self::PowerOn),
            "cut-at" => match number(value) {
                Some(n) if n > 0 => Ok(Self::CutAt(n)),
                _ => Err("cut-at needs the number (at least 1) of the flash operation to cut before".into()),
            },
            "fail-self-test" => no_value(Self::FailSelfTest),
            "status" => no_value(Self::Status),
            other => Err(format!("unknown command {other:?}; known: {}", Self::NAMES.join(", "))),
        }
    }
}

/// A number given as a JSON number or a decimal string (as `atfota ctl` passes words).
fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A successful reply carrying `fields` (an object) besides `"ok": true`.
pub fn ok(fields: Value) -> Value {
    let mut reply = json!({ "ok": true });
    if let (Some(r), Value::Object(f)) = (reply.as_object_mut(), fields) {
        r.extend(f);
    }
    reply
}

/// A refusal.
pub fn refused(error: impl fmt::Display) -> Value {
    json!({ "ok": false, "error": error.to_string() })
}

/// Binds the control channel of device `device` and serves it on a thread; requests go to
/// the shell through `input`.
pub fn open(addr: &ControlAddr, device: usize, input: Sender<Input>) -> io::Result<()> {
    let builder = thread::Builder::new().name(format!("control-{device}")).stack_size(STACK);
    match addr {
        ControlAddr::Tcp(a) => {
            let listener = TcpListener::bind(a)?;
            log::info!("device {device}: control channel on tcp:{}", listener.local_addr()?);
            builder.spawn(move || {
                for conn in listener.incoming().flatten() {
                    let Ok(writer) = conn.try_clone() else { continue };
                    serve(BufReader::new(conn), writer, device, &input);
                }
            })?;
        }
        ControlAddr::Unix(path) => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                // A socket left by an earlier run that was killed; nothing can be listening on
                // it, since the data directory lock keeps a second run out.
                std::fs::remove_file(path)?;
            }
            let listener = UnixListener::bind(path)?;
            log::info!("device {device}: control channel on unix:{}", path.display());
            builder.spawn(move || {
                for conn in listener.incoming().flatten() {
                    let Ok(writer) = conn.try_clone() else { continue };
                    serve(BufReader::new(conn), writer, device, &input);
                }
            })?;
        }
    }
    Ok(())
}

/// Answers the requests of one connection, one line each, until it closes.
fn serve(mut reader: impl BufRead, mut writer: impl Write, device: usize, input: &Sender<Input>) {
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE as u64 + 1).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = if line.len() > MAX_LINE && !line.ends_with('\n') {
            // Skip the rest of the overlong line before answering it.
            let mut rest = Vec::new();
            if reader.read_until(b'\n', &mut rest).is_err() {
                return;
            }
            refused(format!("request longer than {MAX_LINE} bytes"))
        } else if line.trim().is_empty() {
            continue;
        } else {
            match Request::parse(line.trim()) {
                Err(e) => refused(e),
                Ok(req) => {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    if input.send(Input::Control(device, req, tx)).is_err() {
                        return;
                    }
                    rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_else(|_| refused("the device did not answer"))
                }
            }
        };
        if writeln!(writer, "{reply}").and_then(|()| writer.flush()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_and_bad_ones_say_why() {
        for name in Request::NAMES {
            let with_value = match *name {
                "signal" => r#","value":3"#,
                "rat" => r#","value":"2g""#,
                "rate" => r#","value":"4000""#,
                "cut-at" => r#","value":12"#,
                _ => "",
            };
            let line = format!(r#"{{"cmd":"{name}"{with_value}}}"#);
            Request::parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        assert_eq!(Request::parse(r#"{"cmd":"rate","value":"auto"}"#), Ok(Request::Rate(None)));
        assert_eq!(
            Request::parse(r#"{"cmd":"rat","value":"2g"}"#),
            Ok(Request::Network(Stimulus::Rat(Rat::Gsm)))
        );
        assert_eq!(
            Request::parse(r#"{"cmd":"signal","value":31}"#),
            Ok(Request::Network(Stimulus::Signal(31)))
        );
        assert_eq!(Request::parse(r#"{"cmd":"cut-at","value":"7"}"#), Ok(Request::CutAt(7)));
        for (bad, why) in [
            ("", "not a JSON object"),
            ("[1]", "missing \"cmd\""),
            (r#"{"cmd":"fly"}"#, "unknown command"),
            (r#"{"cmd":"signal","value":32}"#, "0 (-113 dBm) to 31"),
            (r#"{"cmd":"rat","value":"5g"}"#, "lte, 3g, 2g or nb-iot"),
            (r#"{"cmd":"rate","value":0}"#, "at least 1"),
            (r#"{"cmd":"cut-at"}"#, "cut-at needs"),
            (r#"{"cmd":"status","value":1}"#, "takes no value"),
        ] {
            let e = Request::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn addresses_parse_and_fleets_offset_them() {
        let tcp: ControlAddr = "tcp:127.0.0.1:6000".parse().unwrap();
        assert_eq!(tcp.instance(3, true).unwrap(), ControlAddr::Tcp("127.0.0.1:6003".into()));
        assert_eq!(tcp.instance(3, false).unwrap(), tcp);
        let unix: ControlAddr = "unix:/tmp/m.ctl".parse().unwrap();
        assert_eq!(unix.instance(2, true).unwrap(), ControlAddr::Unix("/tmp/m.ctl.2".into()));
        assert!("tcp:nohost".parse::<ControlAddr>().is_err());
        assert!("unix:".parse::<ControlAddr>().is_err());
        assert!("/tmp/x".parse::<ControlAddr>().is_err());
        assert!(tcp.instance(70_000, true).is_err());
    }

    #[test]
    fn a_connection_gets_one_reply_line_per_request() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let device = std::thread::spawn(move || {
            while let Ok(Input::Control(_, req, reply)) = rx.recv() {
                let _ = reply.send(ok(json!({ "echo": format!("{req:?}") })));
            }
        });
        let input = b"{\"cmd\":\"status\"}\n\n{\"cmd\":\"fly\"}\n";
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.push(b'\n');
        let all = [&input[..], &long, b"{\"cmd\":\"call\"}\n"].concat();
        let mut out = Vec::new();
        serve(BufReader::new(&all[..]), &mut out, 0, &tx);
        drop(tx);
        device.join().unwrap();
        let lines: Vec<Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["echo"], "Status");
        assert_eq!(lines[1]["ok"], false);
        assert!(lines[2]["error"].as_str().unwrap().contains("longer than"));
        assert_eq!(lines[3]["echo"], "Network(IncomingCall)");
    }
}
