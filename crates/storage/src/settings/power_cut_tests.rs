//! The power-fail proofs of the settings store, the MCUboot-simulator way:
//! count the flash operations of a workload, then cut the power before each
//! one in turn (cleanly and with a torn operation), reboot, and check that
//! every call was atomic; then many seeded runs with several cuts each.

use std::collections::BTreeMap;

use super::tests::contents;
use super::*;
use crate::sim::{CutMode, SimFlash};

type Map = BTreeMap<String, Vec<u8>>;

/// One call into the store.
#[derive(Clone, Debug)]
enum Step {
    Set(String, Vec<u8>),
    Remove(String),
    Batch(Vec<(String, Option<Vec<u8>>)>),
}

/// A flash, the store's partition, and the range of value lengths that makes
/// the workload compact several times on it.
#[derive(Clone, Copy, Debug)]
struct Rig {
    name: &'static str,
    geometry: Geometry,
    part: Partition,
    value_len: (usize, usize),
}

impl Rig {
    fn small() -> Self {
        Self {
            name: "4 KiB sectors, 4-byte writes",
            geometry: Geometry::new(0x1000, 4, 0x4000).unwrap(),
            part: Partition { name: "settings", offset: 0x1000, size: 0x2000 },
            value_len: (8, 400),
        }
    }

    fn large() -> Self {
        Self {
            name: "128 KiB sectors, 16-byte writes",
            geometry: Geometry::new(0x2_0000, 16, 0x6_0000).unwrap(),
            part: Partition { name: "settings", offset: 0x2_0000, size: 0x4_0000 },
            value_len: (2048, MAX_VALUE_LEN),
        }
    }

    fn sectors_per_bank(&self) -> u64 {
        u64::from(self.part.size / self.geometry.sector_size / 2)
    }
}

const KEYS: [&str; 7] =
    ["fota.stage", "fota.offset", "fota.result", "fota.key.0", "fota.key.1", "net.apn", "x"];

/// A workload of `steps` calls: mostly sets (many of them overwrites),
/// removes, and batches mixing both.
fn script(rng: &mut fastrand::Rng, rig: &Rig, steps: usize) -> Vec<Step> {
    let value = |rng: &mut fastrand::Rng| {
        let mut v = vec![0; rng.usize(rig.value_len.0..=rig.value_len.1)];
        rng.fill(&mut v);
        v
    };
    let key = |rng: &mut fastrand::Rng| KEYS[rng.usize(..KEYS.len())].to_owned();
    (0..steps)
        .map(|i| match (i % 9, rng.u8(..4)) {
            (4, _) | (_, 0) if i > 0 => {
                let n = rng.usize(2..=4);
                Step::Batch(
                    (0..n)
                        .map(|_| (key(rng), if rng.u8(..4) == 0 { None } else { Some(value(rng)) }))
                        .collect(),
                )
            }
            (7, _) => Step::Remove(key(rng)),
            _ => Step::Set(key(rng), value(rng)),
        })
        .collect()
}

fn run(store: &mut Settings, flash: &mut SimFlash, step: &Step) -> Result<(), SettingsError> {
    match step {
        Step::Set(key, value) => store.set(flash, key, value),
        Step::Remove(key) => store.remove(flash, key),
        Step::Batch(changes) => {
            let batch: Vec<(&str, Option<&[u8]>)> =
                changes.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            store.apply(flash, &batch)
        }
    }
}

fn model(map: &mut Map, step: &Step) {
    match step {
        Step::Set(key, value) => {
            map.insert(key.clone(), value.clone());
        }
        Step::Remove(key) => {
            map.remove(key);
        }
        Step::Batch(changes) => {
            for (key, value) in changes {
                match value {
                    Some(value) => map.insert(key.clone(), value.clone()),
                    None => map.remove(key),
                };
            }
        }
    }
}

/// Describes how `got` differs from what was expected, key by key.
fn diff(got: &Map, before: &Map, after: &Map) -> String {
    let keys: std::collections::BTreeSet<&String> =
        got.keys().chain(before.keys()).chain(after.keys()).collect();
    let show = |v: Option<&Vec<u8>>| v.map_or("-".to_owned(), |v| format!("{}B", v.len()));
    keys.into_iter()
        .filter(|k| got.get(*k) != before.get(*k) || got.get(*k) != after.get(*k))
        .map(|k| {
            format!(
                "{k}: got {} before {} after {}",
                show(got.get(k)),
                show(before.get(k)),
                show(after.get(k))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// After a cut during a step: reopens, checks the store holds the state from
/// before or after that step, writes more and checks a second reopen. Returns
/// the reopened store and its state.
fn recover(flash: &mut SimFlash, rig: &Rig, before: &Map, after: &Map) -> Result<(Settings, Map), String> {
    let mut store = Settings::open(flash, rig.part).map_err(|e| format!("reopen failed: {e}"))?;
    let got = contents(&store);
    let mut state = if got == *after {
        after.clone()
    } else if got == *before {
        before.clone()
    } else {
        return Err(format!("neither before nor after the interrupted step: {}", diff(&got, before, after)));
    };
    let extra = Step::Set("after.cut".to_owned(), vec![0x5a; 32]);
    run(&mut store, flash, &extra).map_err(|e| format!("write after reopen failed: {e}"))?;
    model(&mut state, &extra);
    if let Some(key) = state.keys().find(|k| k.as_str() != "after.cut").cloned() {
        let remove = Step::Remove(key);
        run(&mut store, flash, &remove).map_err(|e| format!("remove after reopen failed: {e}"))?;
        model(&mut state, &remove);
    }
    let store = Settings::open(flash, rig.part).map_err(|e| format!("second reopen failed: {e}"))?;
    if contents(&store) != state {
        return Err(format!("second reopen lost data: {}", diff(&contents(&store), &state, &state)));
    }
    Ok((store, state))
}

/// Runs `steps` with a cut before operation `op`, then checks recovery.
fn cut_once(rig: &Rig, steps: &[Step], op: u64, mode: CutMode) -> Result<(), String> {
    let mut flash = SimFlash::new(rig.geometry);
    let mut store = Settings::open(&mut flash, rig.part).map_err(|e| e.to_string())?;
    flash.cut_before(op, mode, op.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut state = Map::new();
    for step in steps {
        match run(&mut store, &mut flash, step) {
            Ok(()) => model(&mut state, step),
            Err(SettingsError::Flash(FlashError::PowerLost)) => {
                let mut after = state.clone();
                model(&mut after, step);
                flash.restore_power();
                return recover(&mut flash, rig, &state, &after).map(drop);
            }
            Err(e) => return Err(format!("unexpected error: {e}")),
        }
    }
    Err("the cut never happened".to_owned())
}

fn exhaustive(rig: Rig, steps: usize) {
    let mut rng = fastrand::Rng::with_seed(0x5e77_1a95);
    let steps = script(&mut rng, &rig, steps);
    let mut flash = SimFlash::new(rig.geometry);
    let mut store = Settings::open(&mut flash, rig.part).unwrap();
    for step in &steps {
        run(&mut store, &mut flash, step).unwrap();
    }
    let total = flash.ops();
    let compactions = flash.stats().erases / rig.sectors_per_bank();
    // The first write builds a bank; two more prove compaction under cuts.
    assert!(compactions >= 3, "{}: only {compactions} compactions", rig.name);
    assert!(steps.iter().any(|s| matches!(s, Step::Batch(_))));
    assert!(steps.iter().any(|s| matches!(s, Step::Remove(_))));
    let mut tried = 0;
    let mut failures = Vec::new();
    for op in 1..=total {
        for mode in [CutMode::Clean, CutMode::Tear] {
            tried += 1;
            if let Err(why) = cut_once(&rig, &steps, op, mode) {
                failures.push(format!("cut before op {op} ({mode:?}): {why}"));
            }
        }
    }
    println!(
        "{}: {} steps, {total} flash operations, {compactions} compactions, {tried} cut points tried, {} failures",
        rig.name,
        steps.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}:\n{}", rig.name, failures[..failures.len().min(10)].join("\n"));
}

#[test]
fn every_cut_point_small_geometry() {
    exhaustive(Rig::small(), 60);
}

#[test]
fn every_cut_point_large_geometry() {
    exhaustive(Rig::large(), 110);
}

/// One seeded run: a workload with up to five cuts at random points, each
/// followed by a checked recovery, then a clean run and a final reopen.
fn random_run(seed: u64) -> Result<usize, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let rig = if seed % 10 == 9 { Rig::large() } else { Rig::small() };
    let len = rng.usize(20..60);
    let steps = script(&mut rng, &rig, len);
    let mut flash = SimFlash::new(rig.geometry);
    let mut store = Settings::open(&mut flash, rig.part).map_err(|e| e.to_string())?;
    let mut state = Map::new();
    let max_cuts = rng.usize(1..=5);
    let mut cuts = 0;
    plan(&mut flash, &mut rng);
    for step in &steps {
        match run(&mut store, &mut flash, step) {
            Ok(()) => model(&mut state, step),
            Err(SettingsError::Flash(FlashError::PowerLost)) => {
                let mut after = state.clone();
                model(&mut after, step);
                flash.restore_power();
                (store, state) = recover(&mut flash, &rig, &state, &after)
                    .map_err(|why| format!("after cut {}: {why}", cuts + 1))?;
                cuts += 1;
                if cuts < max_cuts {
                    plan(&mut flash, &mut rng);
                }
            }
            Err(e) => return Err(format!("unexpected error: {e}")),
        }
    }
    flash.restore_power();
    for step in script(&mut rng, &rig, 10) {
        run(&mut store, &mut flash, &step).map_err(|e| format!("clean run failed: {e}"))?;
        model(&mut state, &step);
    }
    let store = Settings::open(&mut flash, rig.part).map_err(|e| e.to_string())?;
    if contents(&store) != state {
        return Err(format!("final reopen: {}", diff(&contents(&store), &state, &state)));
    }
    Ok(cuts)
}

/// Plans a cut a few operations ahead, clean or torn.
fn plan(flash: &mut SimFlash, rng: &mut fastrand::Rng) {
    let mode = if rng.bool() { CutMode::Clean } else { CutMode::Tear };
    flash.cut_before(flash.ops() + rng.u64(1..=40), mode, rng.u64(..));
}

#[test]
fn random_runs_with_several_cuts() {
    let runs = 1000;
    let mut cuts = 0;
    let mut failures = Vec::new();
    for seed in 0..runs {
        match random_run(seed) {
            Ok(n) => cuts += n,
            Err(why) => failures.push(format!("seed {seed}: {why}")),
        }
    }
    println!("random runs: {runs} runs, {cuts} cuts, {} failures", failures.len());
    assert!(cuts > runs as usize, "too few cuts struck: {cuts}");
    assert!(failures.is_empty(), "{}", failures[..failures.len().min(10)].join("\n"));
}

/// The device's own settings geometries (4 KiB sectors, 4-byte writes): the
/// 256 KiB store of devices made now and the 64 KiB one of older devices —
/// banks of 32 and 8 sectors, so a compaction erases sector after sector and
/// writes records across many of them.
fn device_rigs() -> [Rig; 2] {
    [
        (0x4_0000, "device store, 256 KiB (32 sectors a bank)"),
        (0x1_0000, "legacy device store, 64 KiB (8 sectors a bank)"),
    ]
    .map(|(size, name)| Rig {
        name,
        geometry: Geometry::new(0x1000, 4, 0x1000 + size).unwrap(),
        part: Partition { name: "settings", offset: 0x1000, size },
        value_len: (1000, MAX_VALUE_LEN),
    })
}

/// Cuts the power before every operation of whole compactions (the second
/// and third of a workload, so the bank being erased holds an older
/// generation), cleanly and tearing, and checks each call stays atomic.
#[test]
fn every_cut_of_a_compaction_with_the_device_geometry() {
    for rig in device_rigs() {
        let mut rng = fastrand::Rng::with_seed(0xc0_4ac7);
        let mut flash = SimFlash::new(rig.geometry);
        let mut store = Settings::open(&mut flash, rig.part).unwrap();
        let mut state = Map::new();
        // Live data of about half a bank: a compaction writes it across many sectors.
        let keys = (rig.part.size / 4 / 2600) as usize;
        let (mut compactions, mut tried, mut ops_cut) = (0, 0, 0);
        let mut step_no = 0;
        while compactions < 3 {
            step_no += 1;
            let mut value = vec![0; rng.usize(2000..=3200)];
            rng.fill(&mut value);
            let step = Step::Set(format!("key.{}", rng.usize(..keys)), value);
            let before = (flash.clone(), state.clone());
            let (ops, sectors) = (flash.ops(), flash.stats().sectors_erased);
            run(&mut store, &mut flash, &step).unwrap();
            model(&mut state, &step);
            let erased = flash.stats().sectors_erased - sectors;
            if erased == 0 {
                continue;
            }
            compactions += 1;
            assert_eq!(erased, rig.sectors_per_bank(), "{}: a compaction erases the whole bank", rig.name);
            if compactions == 1 {
                continue;
            }
            let n = flash.ops() - ops;
            assert!(n > rig.sectors_per_bank() + 4, "{}: {n} operations", rig.name);
            for k in 1..=n {
                for mode in [CutMode::Clean, CutMode::Tear] {
                    let ctx = format!(
                        "{}: step {step_no}, cut before op {k}/{n} of the compaction ({mode:?})",
                        rig.name
                    );
                    let mut f = before.0.clone();
                    let mut s = Settings::open(&mut f, rig.part).unwrap();
                    assert_eq!(contents(&s), before.1, "{ctx}");
                    f.cut_before(f.ops() + k, mode, k * 0x9e37 + step_no);
                    match run(&mut s, &mut f, &step) {
                        Err(SettingsError::Flash(FlashError::PowerLost)) => {}
                        other => panic!("{ctx}: the cut did not strike: {other:?}"),
                    }
                    f.restore_power();
                    if let Err(why) = recover(&mut f, &rig, &before.1, &state) {
                        panic!("{ctx}: {why}");
                    }
                    tried += 1;
                }
            }
            ops_cut += n;
        }
        println!("{}: 2 compactions, {ops_cut} flash operations, {tried} cut points, 0 failures", rig.name);
    }
}
