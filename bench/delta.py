#!/usr/bin/env python3
"""Driver of bench/delta.sh: measures atfota's delta patches against detools, writes markdown.

For each pair directory (from.bin, to.bin) and each compression (lzma, heatshrink):

- create: `atfota delta create ... --save-patch` as a whole command (process start included,
  thorough settings: the CLI's only mode) against `detools.create_patch` timed inside Python
  (a fresh interpreter per call, detools imported before the clock starts); one run each;
- patch size: the raw detools patch inside our package (--save-patch) against detools' file;
- apply: `atfota delta apply --from OLD PKG -o NEW` as a whole command (process start, hashing
  OLD and NEW against the package's SHA-256s, writing NEW: all included), once with our package
  and once with detools' patch wrapped by `atfota delta pack`, against `detools.apply_patch`
  timed inside Python on detools' own patch; median of RUNS runs, peak RSS the largest seen.
  Every output is compared with to.bin, and detools also applies our patch (checked, untimed).

Peak RSS: ours is the child's ru_maxrss from wait4 (the whole process). detools' is the
interpreter's ru_maxrss after the call, and its growth over the value just before the call
(Python with detools imported), since the interpreter itself is not detools' cost.

Usage (normally run by bench/delta.sh):
  delta.py --bin ATFOTA --work DIR --pair NAME=NOTE... [--runs N] [--out FILE]
  delta.py --detools-create FROM TO PATCH COMPRESSION    (internal: one timed call, JSON)
  delta.py --detools-apply FROM PATCH TO                 (internal: one timed call, JSON)
"""
import argparse
import filecmp
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

COMPRESSIONS = ("lzma", "heatshrink")


def maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def detools_call(kind, args):
    """Runs inside a fresh interpreter: one detools call, timed, printed as JSON."""
    import detools

    before = maxrss_kib()
    if kind == "create":
        src, dst, patch, compression = args
        with open(src, "rb") as ff, open(dst, "rb") as ft, open(patch, "wb") as fp:
            t0, c0 = time.perf_counter(), time.process_time()
            detools.create_patch(ff, ft, fp, compression=compression)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        src, patch, dst = args
        with open(src, "rb") as ff, open(patch, "rb") as fp, open(dst, "wb") as ft:
            t0, c0 = time.perf_counter(), time.process_time()
            detools.apply_patch(ff, fp, ft)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_before": before, "rss_after": maxrss_kib()}))


def in_python(kind, *args):
    out = subprocess.run(
        [sys.executable, __file__, "--detools-" + kind, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def command(argv):
    """Runs a whole command under GNU time; returns (wall s, CPU s, peak RSS KiB) of it.

    Wall time from spawn to exit; CPU (user + system) from wait4, which includes the command
    (reaped by `time`); peak RSS from GNU time's %M, which, unlike the rusage of a child forked
    from this interpreter, does not include the interpreter's own pages copied at fork.
    """
    fd, rss_file = tempfile.mkstemp(prefix="atfota-bench-rss.")
    os.close(fd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file, *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit("%s failed: %s" % (" ".join(argv), err))
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    os.remove(rss_file)
    return seconds, usage.ru_utime + usage.ru_stime, rss


def same(a, b, what):
    if not filecmp.cmp(a, b, shallow=False):
        sys.exit("%s: %s differs from %s" % (what, a, b))


def measure_pair(args, name):
    w = os.path.join(args.work, name)
    src, dst = os.path.join(w, "from.bin"), os.path.join(w, "to.bin")
    row = {"name": name, "from": os.path.getsize(src), "to": os.path.getsize(dst), "c": {}}
    out = os.path.join(w, "out.bin")
    for c in COMPRESSIONS:
        r = {}
        ours_pkg, ours_patch = os.path.join(w, "ours-%s.pkg" % c), os.path.join(w, "ours-%s.patch" % c)
        det_patch, det_pkg = os.path.join(w, "detools-%s.patch" % c), os.path.join(w, "detools-%s.pkg" % c)
        r["create_ours"], r["create_ours_cpu"], r["create_ours_rss"] = command(
            [args.bin, "delta", "create", "--from", src, "--to", dst, "--to-version", "v2",
             "--compression", c, "-o", ours_pkg, "--save-patch", ours_patch]
        )
        d = in_python("create", src, dst, det_patch, c)
        r["create_detools"], r["create_detools_cpu"] = d["seconds"], d["cpu"]
        r["size_ours"], r["size_detools"] = os.path.getsize(ours_patch), os.path.getsize(det_patch)
        command([args.bin, "delta", "pack", "--from", src, "--patch", det_patch, "--to-version", "v2",
                 "-o", det_pkg])
        # detools applies our patch (correctness, untimed).
        in_python("apply", src, ours_patch, out)
        same(out, dst, "detools.apply_patch of our %s patch (%s)" % (c, name))

        for key, pkg in (("ours", ours_pkg), ("ours_on_detools", det_pkg)):
            times, cpus, rss = [], [], 0
            for _ in range(args.runs):
                if os.path.exists(out):
                    os.remove(out)
                t, cpu, m = command([args.bin, "delta", "apply", "--from", src, pkg, "-o", out])
                same(out, dst, "atfota delta apply %s (%s)" % (pkg, name))
                times.append(t)
                cpus.append(cpu)
                rss = max(rss, m)
            r["apply_" + key], r["apply_%s_cpu" % key] = statistics.median(times), statistics.median(cpus)
            r["apply_%s_rss" % key] = rss
        times, cpus, rss, growth = [], [], 0, 0
        for _ in range(args.runs):
            d = in_python("apply", src, det_patch, out)
            same(out, dst, "detools.apply_patch of its %s patch (%s)" % (c, name))
            times.append(d["seconds"])
            cpus.append(d["cpu"])
            rss = max(rss, d["rss_after"])
            growth = max(growth, d["rss_after"] - d["rss_before"])
        r["apply_detools"], r["apply_detools_cpu"] = statistics.median(times), statistics.median(cpus)
        r["apply_detools_rss"], r["apply_detools_growth"] = rss, growth
        row["c"][c] = r
    return row


def mib(kib):
    return "%.1f MiB" % (kib / 1024)


def ms(s):
    return "%.0f ms" % (s * 1000) if s >= 0.0995 else "%.1f ms" % (s * 1000)


def report(args, rows, notes, load_before, load_after, baseline):
    import detools

    lines = []
    add = lines.append
    add("Run: %s UTC, atfota `%s`, detools %s, Python %s; load average %.2f / %.2f / %.2f "
        "before, %.2f / %.2f / %.2f after (1/5/15 min); apply figures are the median of %d runs."
        % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.path.basename(args.bin), detools.__version__,
           sys.version.split()[0], *load_before, *load_after, args.runs))
    add("")
    add("| Pair | what | from → to bytes |")
    add("|------|------|----------------:|")
    for row in rows:
        add("| %s | %s | %s → %s |" % (row["name"], notes[row["name"]], f"{row['from']:,}", f"{row['to']:,}"))
    add("")
    add("Patch size (bytes; ours is the patch inside the package, as `--save-patch` writes it):")
    add("")
    add("| Pair | lzma detools | lzma ours | ours/detools | heatshrink detools | heatshrink ours | ours/detools |")
    add("|------|-----:|-----:|-----:|-----:|-----:|-----:|")
    for row in rows:
        cells = []
        for c in COMPRESSIONS:
            r = row["c"][c]
            cells += [f"{r['size_detools']:,}", f"{r['size_ours']:,}", "%.3f" % (r["size_ours"] / r["size_detools"])]
        add("| %s | %s |" % (row["name"], " | ".join(cells)))
    add("")
    add("Create time, wall (CPU), one run; ours: the whole `atfota delta create` command (thorough: "
        "several LZMA settings or heatshrink windows tried, the smallest kept); detools: "
        "`detools.create_patch` in-process:")
    add("")
    add("| Pair | lzma detools | lzma ours | heatshrink detools | heatshrink ours | ours peak RSS (lzma / heatshrink) |")
    add("|------|-----:|-----:|-----:|-----:|-----:|")
    for row in rows:
        l, h = row["c"]["lzma"], row["c"]["heatshrink"]
        add("| %s | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s / %s |" % (
            row["name"], ms(l["create_detools"]), ms(l["create_detools_cpu"]), ms(l["create_ours"]),
            ms(l["create_ours_cpu"]), ms(h["create_detools"]), ms(h["create_detools_cpu"]),
            ms(h["create_ours"]), ms(h["create_ours_cpu"]), mib(l["create_ours_rss"]), mib(h["create_ours_rss"])))
    add("")
    add("Apply, median wall time (CPU) of the runs; ours: the whole `atfota delta apply` command, "
        "process start and both SHA-256 checks included; detools: `detools.apply_patch` in-process on "
        "its own patch; ratios: ours on our patch / detools, wall and CPU:")
    add("")
    add("| Pair | compression | detools in-process | ours, our patch | ours, detools' patch | "
        "ratio wall / CPU | peak RSS ours (our / detools' patch) | detools RSS (interpreter / growth in the call) |")
    add("|------|------|-----:|-----:|-----:|-----:|-----:|-----:|")
    for row in rows:
        for c in COMPRESSIONS:
            r = row["c"][c]
            add("| %s | %s | %s (%s) | %s (%s) | %s (%s) | %.2f / %.2f | %s / %s | %s / %s |" % (
                row["name"], c, ms(r["apply_detools"]), ms(r["apply_detools_cpu"]), ms(r["apply_ours"]),
                ms(r["apply_ours_cpu"]), ms(r["apply_ours_on_detools"]), ms(r["apply_ours_on_detools_cpu"]),
                r["apply_ours"] / r["apply_detools"], r["apply_ours_cpu"] / max(r["apply_detools_cpu"], 1e-6),
                mib(r["apply_ours_rss"]), mib(r["apply_ours_on_detools_rss"]), mib(r["apply_detools_rss"]),
                mib(r["apply_detools_growth"])))
    add("")
    add("Reference: an empty command (`true`, spawned the same way) takes %s (%s CPU) and peaks at "
        "%s; Python with detools imported peaks at %s."
        % (ms(baseline["true_wall"]), ms(baseline["true_cpu"]), mib(baseline["true"]), mib(baseline["python"])))
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("--detools-create", "--detools-apply"):
        detools_call(sys.argv[1][len("--detools-"):], sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--pair", action="append", required=True, help="NAME=NOTE: WORK/NAME holds from.bin, to.bin")
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--out")
    args = p.parse_args()
    notes = dict(x.split("=", 1) for x in args.pair)
    load_before = os.getloadavg()
    # The floor of any whole command here: `true`, spawned the same way (median of RUNS).
    trues = [command(["true"]) for _ in range(args.runs)]
    baseline = {"true": max(t[2] for t in trues), "true_wall": statistics.median(t[0] for t in trues),
                "true_cpu": statistics.median(t[1] for t in trues)}
    # Python's baseline: detools imported, nothing applied.
    baseline["python"] = json.loads(subprocess.run(
        [sys.executable, "-c", "import detools, resource, json; "
         "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"],
        check=True, capture_output=True, text=True).stdout)
    rows = []
    for name in notes:
        print("measuring %s ..." % name, file=sys.stderr)
        rows.append(measure_pair(args, name))
    text = report(args, rows, notes, load_before, os.getloadavg(), baseline)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
