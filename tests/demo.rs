//! The README's first command: `atfota demo` must exit 0 having really done
//! the whole conversation.

use std::process::Command;

#[test]
fn the_demo_runs_the_whole_update_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_atfota")).arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let wanted = [
        "<~ Ready",
        "-> AT#XFOTA=1,\"http://127.0.0.1:",
        "<~ #XFOTA: 1,0,100",
        "<~ #XFOTA: 4,0",
        "-> AT#XRESET",
        "<~ #XFOTA: 5,0",
        "<- #XSLMVER: \"2.0.0\",\"mfw_nrf9160_1.3.5\"",
        "demo passed: application 1.0.0 -> 2.0.0",
    ];
    let mut from = 0;
    for w in wanted {
        let at = stdout[from..].find(w).unwrap_or_else(|| panic!("{w:?} missing (in order) from:\n{stdout}"));
        from += at + w.len();
    }
}
