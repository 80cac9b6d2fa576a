//! End-to-end tests of `atfota_net::download` over FTP: the happy paths against the real
//! libunftp server of `atfota-peers` ([`FtpPeer`]), and the faults a real server will not make
//! on demand (dropped data connections, silent servers, refused EPSV/REST, long multi-line
//! replies, an unroutable PASV address) against a small scripted FTP server in this file.
//! Every test is bounded by short timeouts and a fixed number of connections.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use atfota_net::{
    CancelToken, DownloadError, Event, FtpSource, Options, Outcome, Resume, Source, StartInfo, download,
    download_with_cancel, parse_ftp_server,
};
use atfota_peers::FtpPeer;
use common::Recorder;

const USER: &str = "modem";
const PASSWORD: &str = "Pa55-w0rd!";

/// The password must never show in an error, whatever the error.
fn assert_no_password(e: &DownloadError) {
    Recorder::with_secret(PASSWORD).check_secret(e);
}

fn ftp(addr: SocketAddr, path: &str) -> Source {
    ftp_as(addr, path, PASSWORD)
}

fn ftp_as(addr: SocketAddr, path: &str, password: &str) -> Source {
    let (host, port) = parse_ftp_server(&addr.to_string()).unwrap();
    Source::Ftp(FtpSource { host, port, path: path.into(), user: USER.into(), password: password.into() })
}

/// Short timeouts so failures show up in well under a second.
fn fast() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        recv_timeout: Duration::from_secs(2),
        retry_delay: Duration::from_millis(10),
        ..Options::default()
    }
}

fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// A directory with `path` holding `len` random bytes, served by an FtpPeer.
fn serve(path: &str, len: usize) -> (tempfile::TempDir, FtpPeer, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = content(len, len as u64);
    let file = dir.path().join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &data).unwrap();
    let peer = FtpPeer::serve_dir(dir.path(), USER, PASSWORD).unwrap();
    (dir, peer, data)
}

/// The peer logs a retrieval after its transfer reply; give it a moment.
fn retrieved_bytes(peer: &FtpPeer, count: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while peer.retrievals().len() < count && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    peer.retrievals().iter().map(|r| r.bytes).collect()
}

// ---- against the real server (libunftp) ----------------------------------------------------

#[test]
fn whole_file_is_byte_exact() {
    let (_dir, peer, data) = serve("fw.bin", 3 * 1024 * 1024 + 17);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(peer.addr(), "fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data, "the file differs");
    assert_eq!(rec.starts.len(), 1);
    assert_eq!((rec.starts[0].offset, rec.starts[0].total), (0, data.len() as u64));
    let validator = rec.starts[0].validator.as_deref().unwrap();
    assert!(validator.len() >= 14 && validator.bytes().take(14).all(|b| b.is_ascii_digit()), "{validator}");
    assert!(rec.retries.is_empty());
    assert_eq!(retrieved_bytes(&peer, 1), vec![data.len() as u64]);
}

#[test]
fn a_path_with_directories() {
    let (_dir, peer, data) = serve("fw/v2/pkg.bin", 100_000);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(peer.addr(), "fw/v2/pkg.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
    assert_eq!(peer.retrievals()[0].path, "/fw/v2/pkg.bin");
}

#[test]
fn empty_file_completes_without_a_transfer() {
    let (_dir, peer, _) = serve("empty.bin", 0);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(peer.addr(), "empty.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert_eq!((rec.starts.len(), rec.data_events, rec.total), (1, 0, 0));
}

#[test]
fn resume_with_rest_transfers_only_the_rest() {
    let (_dir, peer, data) = serve("fw.bin", 2_000_000);
    let source = ftp(peer.addr(), "fw.bin");
    // First attempt: stop after about half a megabyte, as a power cut would.
    let mut first = Vec::new();
    let mut validator = None;
    let outcome = download(&source, None, &Options { chunk_size: 0x1_0000, ..fast() }, &mut |e| match e {
        Event::Started(start) => {
            validator = start.validator;
            ControlFlow::Continue(())
        }
        Event::Data(bytes) => {
            first.extend_from_slice(bytes);
            if first.len() >= 500_000 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
        _ => ControlFlow::Continue(()),
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    let offset = first.len() as u64;

    let mut rec = Recorder { file: first, ..Recorder::with_secret(PASSWORD) };
    let resume = Resume { offset, validator: validator.clone() };
    assert_eq!(rec.run_source(&source, Some(&resume), &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data, "the resumed file differs");
    assert_eq!(rec.starts.len(), 1);
    assert_eq!(rec.starts[0], StartInfo { offset, total: data.len() as u64, validator });
    // The server's own count: the resumed transfer carried only the rest.
    let bytes = retrieved_bytes(&peer, 1);
    assert_eq!(bytes.last(), Some(&(data.len() as u64 - offset)), "{bytes:?}");
}

#[test]
fn a_changed_file_starts_over() {
    let (dir, peer, _) = serve("fw.bin", 50_000);
    let new = content(60_000, 99);
    let path = dir.path().join("fw.bin");
    std::fs::write(&path, &new).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(7200)).unwrap();

    let mut rec = Recorder { file: vec![0; 10_000], ..Recorder::with_secret(PASSWORD) };
    let resume = Resume { offset: 10_000, validator: Some("20000101000000".into()) };
    assert_eq!(
        rec.run_source(&ftp(peer.addr(), "fw.bin"), Some(&resume), &fast()).unwrap(),
        Outcome::Complete
    );
    assert_eq!(rec.starts[0].offset, 0);
    assert_ne!(rec.starts[0].validator.as_deref(), Some("20000101000000"));
    assert!(rec.file == new);
}

#[test]
fn wrong_password_is_refused_without_retry() {
    let (_dir, peer, _) = serve("fw.bin", 10);
    let mut rec = Recorder::with_secret(PASSWORD);
    let wrong = "not-the-Pa55-w0rd";
    let e = download(&ftp_as(peer.addr(), "fw.bin", wrong), None, &fast(), &mut |e| rec.on(e)).unwrap_err();
    assert!(matches!(e, DownloadError::LoginRefused), "{e}");
    assert!(!e.is_transient());
    assert_eq!(e.to_string(), "login refused: check user name and password");
    assert!(!format!("{e} {e:?}").contains(wrong));
    assert!(rec.retries.is_empty() && rec.starts.is_empty());
}

#[test]
fn missing_file_is_not_found_without_retry() {
    let (_dir, peer, _) = serve("fw.bin", 10);
    let mut rec = Recorder::with_secret(PASSWORD);
    let e = rec.run_source(&ftp(peer.addr(), "nope/missing.bin"), None, &fast()).unwrap_err();
    assert!(matches!(e, DownloadError::FileNotFound(_)), "{e}");
    assert!(!e.is_transient());
    assert!(rec.retries.is_empty() && rec.starts.is_empty());
}

#[test]
fn rate_limit_is_roughly_honoured() {
    let (_dir, peer, data) = serve("fw.bin", 64 * 1024);
    let opts = Options { rate_limit: Some(64 * 1024), ..fast() };
    let started = Instant::now();
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(peer.addr(), "fw.bin"), None, &opts).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
    // The first quarter second of traffic is free; the rest takes about 0.75 s. Loose bound.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(10), "{took:?}");
    assert!(rec.data_events >= 4);
}

#[test]
fn cancel_token_stops_a_slow_transfer_at_once() {
    let (_dir, peer, _) = serve("fw.bin", 1_000_000);
    let opts = Options { rate_limit: Some(100_000), recv_timeout: Duration::from_secs(30), ..fast() };
    let token = CancelToken::new();
    let canceller = token.clone();
    let source = ftp(peer.addr(), "fw.bin");
    let worker = thread::spawn(move || {
        let mut rec = Recorder::with_secret(PASSWORD);
        let outcome = download_with_cancel(&source, None, &opts, &token, &mut |e| rec.on(e));
        (outcome, rec.file.len())
    });
    thread::sleep(Duration::from_millis(400));
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (outcome, got) = worker.join().unwrap();
    assert_eq!(outcome.unwrap(), Outcome::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_secs(2), "{:?}", cancelled_at.elapsed());
    assert!(got > 0 && got < 1_000_000, "{got}");
}

// ---- against scripted servers (fault injection) ---------------------------------------------

/// How a scripted server behaves; the default is a well-behaved server.
#[derive(Clone, Default)]
struct Script {
    /// `220-` lines before the final `220 ready`.
    banner_lines: usize,
    /// Accept connections but never say anything.
    silent: bool,
    /// Close the control connection right after a successful login.
    close_after_login: bool,
    /// Answer EPSV with 502.
    refuse_epsv: bool,
    /// The address a 227 announces (127.0.0.1 if not set).
    pasv_ip: Option<[u8; 4]>,
    /// Answer REST with 502.
    refuse_rest: bool,
    /// Answer SIZE with this reply instead of the size.
    size_reply: Option<&'static str>,
    /// The MDTM time (MDTM is refused if not set).
    mdtm: Option<&'static str>,
    /// Per connection (the last repeats): close the data connection after this many bytes.
    cuts: Vec<Option<usize>>,
    /// On the first connection only: send this many bytes, then hold the data connection
    /// open, silent, until the client gives up.
    stall_first: Option<usize>,
    /// Bytes sent beyond the file.
    extra: usize,
    /// Multi-line 150-/226- replies, as pure-ftpd sends.
    multiline: bool,
    /// Answer PASS with 500 echoing the command (some servers echo what they refuse).
    echo_pass: bool,
}

/// A scripted FTP server and the commands it received, one line each (`PASS` included: it is
/// the test's own secret).
struct Scripted {
    addr: SocketAddr,
    commands: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    fn count(&self, verb: &str) -> usize {
        self.commands().iter().filter(|c| c.split(' ').next() == Some(verb)).count()
    }
}

/// Serves `file` under any name to at most `connections` control connections.
fn scripted(file: Vec<u8>, script: Script, connections: usize) -> Scripted {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&commands);
    thread::spawn(move || {
        for (index, stream) in listener.incoming().take(connections).enumerate() {
            let Ok(stream) = stream else { continue };
            // A session ends when the client hangs up or a 5 s read timeout passes.
            if let Err(e) = session(stream, &file, &script, index, &log) {
                eprintln!("scripted session {index} ended: {e}");
            }
        }
    });
    Scripted { addr, commands }
}

fn session(
    control: TcpStream,
    file: &[u8],
    script: &Script,
    index: usize,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    control.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(control.try_clone()?);
    let mut out = control;
    if script.silent {
        // Hold the connection, silent, until the client gives up.
        let _ = reader.read_to_end(&mut Vec::new());
        return Ok(());
    }
    for i in 0..script.banner_lines {
        write!(out, "220-Banner line {i}: you are user number {i} of 50.\r\n")?;
    }
    out.write_all(b"220 ready\r\n")?;
    let mut passive: Option<TcpListener> = None;
    let mut rest = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_owned();
        log.lock().unwrap().push(line.clone());
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let reply = match verb {
            "USER" => "331 password please".to_owned(),
            "PASS" if script.echo_pass => format!("500 '{line}' not understood"),
            "PASS" if arg == PASSWORD => {
                if script.close_after_login {
                    return Ok(());
                }
                "230 logged in".to_owned()
            }
            "PASS" => "530 login incorrect".to_owned(),
            "TYPE" => "200 binary it is".to_owned(),
            "SIZE" => script.size_reply.map_or_else(|| format!("213 {}", file.len()), str::to_owned),
            "MDTM" => script.mdtm.map_or_else(|| "502 no MDTM here".to_owned(), |t| format!("213 {t}")),
            "EPSV" if script.refuse_epsv => "502 EPSV not implemented".to_owned(),
            "EPSV" => {
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
                let port = listener.local_addr()?.port();
                passive = Some(listener);
                format!("229 Entering Extended Passive Mode (|||{port}|)")
            }
            "PASV" => {
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
                let [p1, p2] = listener.local_addr()?.port().to_be_bytes();
                passive = Some(listener);
                let [a, b, c, d] = script.pasv_ip.unwrap_or([127, 0, 0, 1]);
                format!("227 Entering Passive Mode ({a},{b},{c},{d},{p1},{p2}).")
            }
            "REST" if script.refuse_rest => "502 REST not implemented".to_owned(),
            "REST" => {
                rest = arg.parse().unwrap_or(0);
                format!("350 restarting at {rest}")
            }
            "RETR" => {
                let Some(listener) = passive.take() else {
                    out.write_all(b"425 use EPSV or PASV first\r\n")?;
                    continue;
                };
                let (mut data, _) = listener.accept()?;
                if script.multiline {
                    out.write_all(b"150-Accepted data connection\r\n150 some kbytes to download\r\n")?;
                } else {
                    out.write_all(b"150 here it comes\r\n")?;
                }
                let mut body = file[rest.min(file.len())..].to_vec();
                body.extend(std::iter::repeat_n(0xA5, script.extra));
                let cut = script.cuts.get(index).or(script.cuts.last()).copied().flatten();
                let stall = script.stall_first.filter(|_| index == 0);
                let sent = cut.or(stall).unwrap_or(body.len()).min(body.len());
                // The client may hang up first (a TooMuchData refusal): that is fine here.
                let _ = data.write_all(&body[..sent]);
                if stall.is_some() {
                    data.set_read_timeout(Some(Duration::from_secs(5)))?;
                    let _ = data.read_to_end(&mut Vec::new());
                }
                drop(data);
                rest = 0;
                if sent < body.len() {
                    "426 connection closed; transfer aborted".to_owned()
                } else if script.multiline {
                    "226-File successfully transferred\r\n226 0.001 seconds".to_owned()
                } else {
                    "226 done".to_owned()
                }
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => "502 not implemented".to_owned(),
        };
        write!(out, "{reply}\r\n")?;
    }
}

#[test]
fn multi_line_banner_and_transfer_replies() {
    let data = content(300_000, 1);
    let script =
        Script { banner_lines: 12, multiline: true, mdtm: Some("20240102030405"), ..Script::default() };
    let server = scripted(data.clone(), script, 1);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
    assert_eq!(rec.starts[0].validator.as_deref(), Some("20240102030405"));
    // QUIT is sent without waiting for its reply: give the server a moment to log it.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.count("QUIT") == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let commands = server.commands();
    let verbs: Vec<&str> = commands.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(verbs, ["USER", "PASS", "TYPE", "SIZE", "MDTM", "EPSV", "RETR", "QUIT"]);
    assert_eq!(commands[0], format!("USER {USER}"));
    assert_eq!(commands[2], "TYPE I");
}

#[test]
fn epsv_refused_falls_back_to_pasv() {
    let data = content(100_000, 2);
    let server = scripted(data.clone(), Script { refuse_epsv: true, ..Script::default() }, 1);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
    assert_eq!((server.count("EPSV"), server.count("PASV")), (1, 1));
    assert_eq!(rec.starts[0].validator, None, "no MDTM, no validator");
}

#[test]
fn unroutable_pasv_address_is_replaced_by_the_control_peer() {
    let data = content(50_000, 3);
    let script = Script { refuse_epsv: true, pasv_ip: Some([0, 0, 0, 0]), ..Script::default() };
    let server = scripted(data.clone(), script, 1);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
}

#[test]
fn data_drop_is_retried_with_rest_from_the_delivered_bytes() {
    let data = content(400_000, 4);
    let script = Script { cuts: vec![Some(123_456), None], refuse_epsv: true, ..Script::default() };
    let server = scripted(data.clone(), script, 2);
    let mut rec = Recorder::with_secret(PASSWORD);
    assert_eq!(rec.run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
    assert_eq!(rec.retries.len(), 1);
    let (attempt, cause, at) = &rec.retries[0];
    assert_eq!((*attempt, *at), (1, 123_456), "{cause}");
    assert!(cause.contains("123456 of 400000"), "{cause}");
    let offsets: Vec<u64> = rec.starts.iter().map(|s| s.offset).collect();
    assert_eq!(offsets, [0, 123_456]);
    let commands = server.commands();
    assert!(commands.contains(&"REST 123456".to_owned()), "{commands:?}");
    // EPSV was refused in the first session: the retry went straight to PASV.
    assert_eq!((server.count("EPSV"), server.count("PASV")), (1, 2));
}

#[test]
fn a_stalled_data_connection_times_out_and_resumes() {
    let data = content(300_000, 12);
    let server = scripted(data.clone(), Script { stall_first: Some(70_000), ..Script::default() }, 2);
    let timeout = Duration::from_millis(400);
    let mut rec = Recorder::with_secret(PASSWORD);
    let started = Instant::now();
    let opts = Options { recv_timeout: timeout, ..fast() };
    assert_eq!(rec.run_source(&ftp(server.addr, "fw.bin"), None, &opts).unwrap(), Outcome::Complete);
    assert!(rec.file == data);
    assert_eq!(rec.retries.len(), 1);
    assert!(rec.retries[0].1.contains("sent nothing for 400ms"), "{}", rec.retries[0].1);
    assert_eq!(rec.retries[0].2, 70_000);
    assert!(server.commands().contains(&"REST 70000".to_owned()));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[test]
fn data_that_always_drops_fails_after_the_retries() {
    let data = content(100_000, 5);
    let server = scripted(data, Script { cuts: vec![Some(1000)], ..Script::default() }, 3);
    let mut rec = Recorder::with_secret(PASSWORD);
    let e = rec.run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap_err();
    assert!(matches!(e, DownloadError::Truncated { .. }), "{e}");
    assert_eq!(rec.retries.len(), 2);
    assert_eq!(rec.file.len(), 3000, "each session added its 1000 bytes");
    assert_eq!(server.count("RETR"), 3);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = scripted(Vec::new(), Script { silent: true, ..Script::default() }, 1);
    let timeout = Duration::from_millis(500);
    let opts = Options { recv_timeout: timeout, retries: 0, ..fast() };
    let started = Instant::now();
    let e = Recorder::with_secret(PASSWORD).run_source(&ftp(server.addr, "fw.bin"), None, &opts).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, DownloadError::IdleTimeout(t) if t == timeout), "{e}");
    assert!(e.is_transient());
    assert!(took >= timeout && took < 2 * timeout, "{took:?}");
}

#[test]
fn control_connection_closed_after_login_is_retried_then_fails() {
    let server = scripted(content(10, 6), Script { close_after_login: true, ..Script::default() }, 2);
    let mut rec = Recorder::with_secret(PASSWORD);
    let opts = Options { retries: 1, ..fast() };
    let e = rec.run_source(&ftp(server.addr, "fw.bin"), None, &opts).unwrap_err();
    assert!(matches!(e, DownloadError::ControlClosed), "{e}");
    assert!(e.is_transient());
    assert_eq!(rec.retries.len(), 1);
    assert_eq!(server.count("PASS"), 2);
}

#[test]
fn rest_refused_starts_over_from_zero() {
    let data = content(200_000, 7);
    let server = scripted(data.clone(), Script { refuse_rest: true, ..Script::default() }, 1);
    let mut rec = Recorder { file: data[..50_000].to_vec(), ..Recorder::with_secret(PASSWORD) };
    let resume = Resume { offset: 50_000, validator: None };
    assert_eq!(
        rec.run_source(&ftp(server.addr, "fw.bin"), Some(&resume), &fast()).unwrap(),
        Outcome::Complete
    );
    assert_eq!(rec.starts.len(), 1);
    assert_eq!(rec.starts[0].offset, 0);
    assert!(rec.file == data);
    assert_eq!(server.count("REST"), 1);
}

#[test]
fn a_resume_validator_that_cannot_be_checked_starts_over() {
    // The server has no MDTM: a stored validator proves nothing, so no REST is sent.
    let data = content(20_000, 8);
    let server = scripted(data.clone(), Script::default(), 1);
    let mut rec = Recorder { file: data[..5_000].to_vec(), ..Recorder::with_secret(PASSWORD) };
    let resume = Resume { offset: 5_000, validator: Some("20240102030405".into()) };
    assert_eq!(
        rec.run_source(&ftp(server.addr, "fw.bin"), Some(&resume), &fast()).unwrap(),
        Outcome::Complete
    );
    assert_eq!(rec.starts[0].offset, 0);
    assert!(rec.file == data);
    assert_eq!(server.count("REST"), 0);
}

#[test]
fn more_bytes_than_size_said_is_an_error() {
    let server = scripted(content(10_000, 9), Script { extra: 1, ..Script::default() }, 1);
    let mut rec = Recorder::with_secret(PASSWORD);
    let e = rec.run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap_err();
    assert!(matches!(e, DownloadError::TooMuchData { expected: 10_000 }), "{e}");
    assert!(!e.is_transient());
    assert!(rec.file.len() <= 10_000);
}

#[test]
fn without_size_the_download_cannot_start() {
    // 550 may only mean "size not available" (RFC 3659): RETR finds the file, still no size.
    for reply in ["502 SIZE not implemented", "550 size not available"] {
        let server = scripted(content(100, 10), Script { size_reply: Some(reply), ..Script::default() }, 1);
        let e = Recorder::with_secret(PASSWORD)
            .run_source(&ftp(server.addr, "fw.bin"), None, &fast())
            .unwrap_err();
        assert!(matches!(e, DownloadError::NoFileSize), "{reply}: {e}");
        assert!(e.to_string().starts_with("the server did not report the file size"));
    }
}

#[test]
fn a_password_echoed_by_the_server_is_scrubbed() {
    let server = scripted(content(10, 11), Script { echo_pass: true, ..Script::default() }, 1);
    let e =
        Recorder::with_secret(PASSWORD).run_source(&ftp(server.addr, "fw.bin"), None, &fast()).unwrap_err();
    assert!(
        matches!(&e, DownloadError::FtpRefused { command: "PASS", code: 500, text } if text.contains("****")),
        "{e}"
    );
    assert_no_password(&e);
}

#[test]
fn invalid_sources_fail_before_connecting() {
    let server = scripted(Vec::new(), Script::default(), 1);
    let Source::Ftp(good) = ftp(server.addr, "fw.bin") else { unreachable!() };
    for bad in [
        FtpSource { path: "fw.bin\r\nDELE fw.bin".into(), ..good.clone() },
        FtpSource { user: String::new(), ..good.clone() },
        FtpSource { password: format!("{PASSWORD}\r\n"), ..good.clone() },
    ] {
        let e = Recorder::with_secret(PASSWORD).run_source(&Source::Ftp(bad), None, &fast()).unwrap_err();
        assert!(matches!(e, DownloadError::BadFtpSource(_)), "{e}");
    }
    assert!(server.commands().is_empty());
}

#[test]
fn debug_of_a_source_hides_the_password() {
    let Source::Ftp(source) = ftp("127.0.0.1:21".parse().unwrap(), "fw.bin") else { unreachable!() };
    let debug = format!("{source:?} {:?}", Source::Ftp(source.clone()));
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains(USER) && debug.contains("fw.bin"));
}
