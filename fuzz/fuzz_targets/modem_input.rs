//! Fuzz target: a whole host session against the emulated modem (`atfota-device`): AT bytes
//! from the host and, for every transfer the modem starts, a file from a scripted server.
//!
//! The input is `[flags, pattern, pattern]`, then host bytes up to the first NUL, then the
//! file. Flags: bit 0 makes new images fail their self-test, bits 1-2 choose how transfers end
//! (see `Ending`). Host bytes are fed a line at a time and the server answers in between, so a
//! session can download, cancel, resume, reset and install. Nothing touches the network.
//!
//! Checks that no session panics, fails the (never failing) simulated flash, or floods the
//! host, and that after any session the device survives a power cycle: it boots and runs an
//! application. A panic here is a finding: the harness states what it expected.

#![no_main]

use atfota_fuzz::device::{self, Ending, Server};
use atfota_fuzz::input;
use libfuzzer_sys::fuzz_target;

/// Most bytes a host byte may make the modem answer (`ATIIII...` gives ~60 per `I`), plus
/// a fixed allowance per line for banners and transfer URCs.
const OUTPUT_PER_BYTE: usize = 128;
const OUTPUT_PER_LINE: usize = 0x4000;

fuzz_target!(|data: &[u8]| {
    let ([flags, p0, p1], rest) = input::header::<3>(data);
    let (host, file) = input::split_at_byte(rest, 0x00);
    let fail_self_test = flags & 0x01 != 0;
    let pattern = [p0, p1];
    let server = Server { file, pattern: &pattern, ending: Ending::from_bits(flags >> 1) };

    let (flash, layout) = device::factory_flash();
    let mut modem = device::power_on(flash, layout, fail_self_test).expect("the factory device boots");
    modem.take_output();
    for line in input::lines(host) {
        modem.handle_input(line).expect("the simulated flash never fails");
        server.serve(&mut modem);
        let out = modem.take_output();
        assert!(
            out.len() <= line.len() * OUTPUT_PER_BYTE + OUTPUT_PER_LINE,
            "{} bytes of output for a {}-byte line",
            out.len(),
            line.len()
        );
    }

    // Power cut, power on: whatever the host did, an application runs.
    let flash = modem.into_flash().expect("a booted modem holds its flash");
    let modem = device::power_on(flash, layout, fail_self_test).expect("the device boots again");
    let engine = modem.engine().expect("a booted modem has an engine");
    assert!(engine.app_version().is_some(), "no application runs after the session");
});
