//! Fuzz target: a whole host session against the emulated modem (`atfota-device`): AT bytes
//! from the host and, for every transfer the modem starts, a file from a scripted server.
//!
//! The input is `[flags, call, pattern, pattern]`, then host bytes up to the first NUL, then
//! the file. Flags: bit 0 makes new images fail their self-test, bits 1-2 choose how transfers
//! end (see `Ending`), bit 3 the profile (nRF9160 SLM or NL668), bit 4 rings an incoming call
//! at `call % 101` percent of a download, bits 5-6 make the server misbehave (see `Quirk`),
//! bit 7 stalls every transfer halfway so the host can cancel or reset it while it runs. Host bytes are fed a line at a time and the server
//! answers in between, so a session can download, cancel, resume, reset and install. Nothing
//! touches the network.
//!
//! Checks that no session panics, fails the (never failing) simulated flash, or floods the
//! host, and that after any session the device survives a power cycle: it boots and runs an
//! application. A panic here is a finding: the harness states what it expected.

#![no_main]

use atfota_fuzz::device::{Ending, Quirk, Server, Setup};
use atfota_fuzz::input;
use libfuzzer_sys::fuzz_target;

/// Most bytes a host byte may make the modem answer (`ATIIII...` gives ~60 per `I`), plus
/// a fixed allowance per line for banners and transfer URCs.
const OUTPUT_PER_BYTE: usize = 128;
const OUTPUT_PER_LINE: usize = 0x4000;

fuzz_target!(|data: &[u8]| {
    let ([flags, call, p0, p1], rest) = input::header::<4>(data);
    let (host, file) = input::split_at_byte(rest, 0x00);
    let setup = Setup::from_bits(flags, call);
    let pattern = [p0, p1];
    let ending = if flags & 0x80 != 0 { Ending::Stall } else { Ending::from_bits(flags >> 1) };
    let server = Server { file, pattern: &pattern, ending, quirk: Quirk::from_bits(flags >> 5) };

    let (mut modem, layout) = setup.power_on().expect("the factory device boots");
    let mut out = Vec::new();
    server.serve(&mut modem, &mut out).expect("the simulated flash never fails");
    for line in input::lines(host) {
        out.clear();
        modem.handle_input(line).expect("the simulated flash never fails");
        server.serve(&mut modem, &mut out).expect("the simulated flash never fails");
        assert!(
            out.len() <= line.len() * OUTPUT_PER_BYTE + OUTPUT_PER_LINE,
            "{} bytes of output for a {}-byte line",
            out.len(),
            line.len()
        );
    }

    // Power cut, power on: whatever the host did, an application runs.
    let flash = modem.into_flash().expect("a booted modem holds its flash");
    let modem = setup.power_on_flash(flash, layout).expect("the device boots again");
    let engine = modem.engine().expect("a booted modem has an engine");
    assert!(engine.app_version().is_some(), "no application runs after the session");
});
