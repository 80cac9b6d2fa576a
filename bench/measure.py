#!/usr/bin/env python3
"""Measurement driver for bench/download.sh.

Owns the timed regions and the figures: it runs one command (or one emulated
modem through one AT#XFOTA download) under GNU time, appends one JSON line of
results, and turns a file of such lines into the markdown report. It must
never start a server, touch anything outside the paths it is given, or leave a
process behind: every child runs in its own session, which is killed by its id
when a deadline passes.

Peak RSS is GNU time's "Maximum resident set size" (the kernel's ru_maxrss of
the process, as wait4 reports it). Wall time is taken here with a monotonic
clock, which is finer than GNU time's 10 ms "Elapsed" field.

Subcommands:
  exec   --label L --bytes N --out F [--timeout S] -- CMD...
         times CMD from spawn to exit.
  xfota  --label L --bytes N --out F --bin ATFOTA --data DIR --slot-size S
         --url URL [--timeout S] [--log FILE]
         creates a factory-fresh device in DIR if it is missing (untimed),
         boots `atfota modem` on it, waits for `Ready`, sends
         AT#XFOTA=1,"URL" and stops the clock at `#XFOTA: 4,0`.
  report RESULTS.jsonl [--meta KEY=VALUE ...]
         prints the markdown tables (figures, ratios, targets, phases).
"""

import argparse
import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

GNU_TIME = "/usr/bin/time"
MIB = 1024 * 1024
# Labels the report knows how to compare; download.sh uses exactly these.
CURL = "curl -o FILE"
OURS_BIG = "atfota AT#XFOTA=1"
OURS_SMALL = "atfota AT#XFOTA=1 (small image)"
SHA = "sha256sum"
# Targets from the issue.
RSS_LIMIT_MIB = 16.0
RSS_SPREAD_MIB = 1.0


class BenchError(Exception):
    """A measurement that could not be taken; the message says why."""


def main(argv):
    args = parse_args(argv)
    try:
        if args.cmd == "exec":
            record = measure_exec(args)
        elif args.cmd == "xfota":
            record = measure_xfota(args)
        else:
            print(report(args.results, args.meta), end="")
            return 0
    except BenchError as err:
        print(f"measure.py: {err}", file=sys.stderr)
        return 1
    with open(args.out, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    print(summary_line(record), file=sys.stderr)
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("exec", help="time one command")
    common(e)
    e.add_argument("command", nargs=argparse.REMAINDER)

    x = sub.add_parser("xfota", help="time one AT#XFOTA=1 download on an emulated modem")
    common(x)
    x.add_argument("--bin", required=True)
    x.add_argument("--data", required=True)
    x.add_argument("--slot-size", required=True)
    x.add_argument("--url", required=True)
    x.add_argument("--log", default=os.devnull)

    r = sub.add_parser("report", help="markdown tables from a results file")
    r.add_argument("results")
    r.add_argument("--meta", action="append", default=[], help="KEY=VALUE shown above the tables")

    args = p.parse_args(argv)
    if args.cmd == "exec":
        if args.command[:1] == ["--"]:
            args.command = args.command[1:]
        if not args.command:
            p.error("exec needs a command after --")
    return args


def common(p):
    p.add_argument("--label", required=True)
    p.add_argument("--bytes", type=int, required=True, help="payload size, for MiB/s")
    p.add_argument("--out", required=True, help="JSON lines file to append to")
    p.add_argument("--timeout", type=float, default=120.0)


# ---------------------------------------------------------------- exec


def measure_exec(args):
    with gnu_time_file() as rss_path:
        os.sync()
        start = time.monotonic()
        proc = subprocess.Popen(
            [GNU_TIME, "-v", "-o", rss_path, *args.command], stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            code = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            kill_session(proc)
            raise BenchError(f"{args.command[0]} took longer than {args.timeout:.0f} s; killed") from None
        wall = time.monotonic() - start
        if code != 0:
            raise BenchError(f"{' '.join(args.command)} exited with status {code}")
        rss, cpu = read_gnu_time(rss_path)
    return {"label": args.label, "bytes": args.bytes, "wall_s": wall, "rss_kib": rss, "cpu_s": cpu}


@contextlib.contextmanager
def gnu_time_file():
    """A scratch file for `time -o`, removed afterwards."""
    fd, path = tempfile.mkstemp(prefix="gnutime.")
    os.close(fd)
    try:
        yield path
    finally:
        os.unlink(path)


# ---------------------------------------------------------------- xfota


def measure_xfota(args):
    with open(args.log, "ab") as log, gnu_time_file() as rss_path:
        create_s = create_device(args, log)
        # Dirty pages of earlier steps (the device file, curl's output) would
        # otherwise be written back inside somebody's timed region.
        os.sync()
        cmd = [GNU_TIME, "-v", "-o", rss_path, *modem_command(args)]
        spawned = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        try:
            record = drive_modem(args, proc, spawned)
        finally:
            if proc.poll() is None:
                kill_session(proc)
        record["rss_kib"], record["cpu_s"] = read_gnu_time(rss_path)
    record["create_s"] = create_s
    return record


def drive_modem(args, proc, spawned):
    """Waits for `Ready`, sends the command, times it to `#XFOTA: 4,0`, then
    stops the modem by closing its stdin (outside the timed region)."""
    deadline = spawned + args.timeout
    lines = LineReader(proc.stdout.fileno())
    wait_for(lines, deadline, lambda line: line == "Ready", "the modem never printed Ready")
    ready = time.monotonic()
    command = f'AT#XFOTA=1,"{args.url}"\r'.encode()
    t0 = time.monotonic()
    proc.stdin.write(command)
    proc.stdin.flush()
    marks = drive_download(lines, deadline, t0)
    wall = time.monotonic() - t0
    proc.stdin.close()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise BenchError("the modem did not stop within 30 s of stdin closing") from None
    if code != 0:
        raise BenchError(f"the modem exited with status {code} (see {args.log})")
    return {
        "label": args.label,
        "bytes": args.bytes,
        "wall_s": wall,
        "boot_s": ready - spawned,
        "ok_s": marks["ok"],
        "first_progress_s": marks["first"],
        "pct100_s": marks["pct100"],
        "done_s": wall,
    }


def modem_command(args):
    return [args.bin, "modem", "--data", args.data, "--slot-size", args.slot_size, "--listen", "stdio"]


def create_device(args, log):
    """Creates a factory-fresh device in a missing --data directory by
    starting the modem once with stdin at EOF (untimed); returns how long that
    took, or None when the device already existed."""
    if os.path.exists(args.data):
        return None
    start = time.monotonic()
    proc = subprocess.Popen(
        modem_command(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    try:
        code = proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc)
        raise BenchError(f"creating the device in {args.data} took longer than {args.timeout:.0f} s") from None
    if code != 0:
        raise BenchError(f"creating the device in {args.data} failed with status {code} (see {args.log})")
    return time.monotonic() - start


def drive_download(lines, deadline, t0):
    """Reads URCs until `#XFOTA: 4,0`; returns when OK, the first and the
    100 % progress URC arrived (seconds after t0)."""
    marks = {"ok": None, "first": None, "pct100": None}
    while True:
        line = lines.next(deadline)
        if line is None:
            raise BenchError(f"no #XFOTA: 4,0 before the deadline (progress marks: {marks})")
        now = time.monotonic() - t0
        if line == "OK":
            marks["ok"] = now
        elif line in ("ERROR",) or line.startswith("+CME ERROR"):
            raise BenchError(f"the modem refused the command: {line}")
        elif line.startswith("#XFOTA: 1,0,"):
            if marks["first"] is None:
                marks["first"] = now
            if line == "#XFOTA: 1,0,100":
                marks["pct100"] = now
        elif line == "#XFOTA: 4,0":
            return marks
        elif line.startswith("#XFOTA: "):
            raise BenchError(f"the download failed: {line}")


def wait_for(lines, deadline, pred, why):
    while True:
        line = lines.next(deadline)
        if line is None:
            raise BenchError(why)
        if pred(line):
            return line


class LineReader:
    """Splits `\\r\\n<text>\\r\\n` framed output into non-empty lines, with a deadline."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.eof = False

    def next(self, deadline):
        while True:
            cut = self.buf.find(b"\r\n")
            if cut >= 0:
                line, self.buf = self.buf[:cut], self.buf[cut + 2 :]
                if line:
                    return line.decode("utf-8", "replace")
                continue
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.eof = True
            # AT output is small; cap what an unterminated line may hold.
            self.buf = (self.buf + chunk)[-65536:]


def kill_session(proc):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def read_gnu_time(path):
    """Peak RSS (KiB) and CPU time (user + system, seconds) from `time -v` output."""
    fields = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.strip().partition(": ")
            fields[key] = value
    try:
        rss = int(fields["Maximum resident set size (kbytes)"])
        cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    except (KeyError, ValueError):
        raise BenchError(f"GNU time wrote no usable RSS and CPU figures into {path}") from None
    return rss, cpu


def summary_line(r):
    return (
        f"  {r['label']:<34} {r['wall_s']:7.3f} s  {r['bytes'] / MIB / r['wall_s']:8.1f} MiB/s  "
        f"RSS {r['rss_kib'] / 1024:6.1f} MiB  CPU {r['cpu_s']:6.2f} s"
    )


# ---------------------------------------------------------------- report


def report(path, meta):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.setdefault(r["label"], []).append(r)
    out = [f"- {key}: {value}" for key, _, value in (kv.partition("=") for kv in meta)]
    if out:
        out.append("")
    out.append(
        row(
            "measurement",
            "image",
            "runs",
            "median wall (s)",
            "min wall (s)",
            "MiB/s (median)",
            "MiB/s (best)",
            "peak RSS (MiB, max of runs)",
            "CPU user+sys (s, median)",
        )
    )
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, rs in rows.items():
        walls = [r["wall_s"] for r in rs]
        size = rs[0]["bytes"] / MIB
        med, best = statistics.median(walls), min(walls)
        out.append(
            row(
                label,
                f"{size:.2f} MiB",
                len(rs),
                f"{med:.3f}",
                f"{best:.3f}",
                f"{size / med:.0f}",
                f"{size / best:.0f}",
                f"{peak_rss_mib(rs):.1f}",
                f"{statistics.median(r['cpu_s'] for r in rs):.2f}",
            )
        )
    out.append("")
    out.extend(targets(rows))
    out.extend(phases(rows))
    return "\n".join(out) + "\n"


def targets(rows):
    if CURL not in rows or OURS_BIG not in rows:
        return []
    curl = [r["wall_s"] for r in rows[CURL]]
    ours = [r["wall_s"] for r in rows[OURS_BIG]]
    ratio_med = statistics.median(ours) / statistics.median(curl)
    ratio_min = min(ours) / min(curl)
    rss_big, curl_rss = peak_rss_mib(rows[OURS_BIG]), peak_rss_mib(rows[CURL])
    big_size = rows[OURS_BIG][0]["bytes"] / MIB
    out = [
        row("target", "figure", "met"),
        "|---|---|---|",
        row(
            "wall time ≤ curl's",
            f"ours/curl = {ratio_med:.2f} (median), {ratio_min:.2f} (best)",
            yes(ratio_med <= 1.0),
        ),
        row(
            f"peak RSS ≤ {RSS_LIMIT_MIB:.0f} MiB",
            f"{rss_big:.1f} MiB (curl: {curl_rss:.1f} MiB; ours/curl = {rss_big / curl_rss:.2f})",
            yes(rss_big <= RSS_LIMIT_MIB),
        ),
    ]
    if OURS_SMALL in rows:
        rss_small = peak_rss_mib(rows[OURS_SMALL])
        spread = abs(rss_big - rss_small)
        small_size = rows[OURS_SMALL][0]["bytes"] / MIB
        out.append(
            row(
                f"RSS, {small_size:.0f} MiB vs {big_size:.0f} MiB image, within {RSS_SPREAD_MIB:.0f} MiB",
                f"{rss_small:.1f} vs {rss_big:.1f} MiB: difference {spread:.2f} MiB",
                yes(spread <= RSS_SPREAD_MIB),
            )
        )
    if SHA in rows:
        sha = statistics.median(r["wall_s"] for r in rows[SHA])
        out.append(
            row(
                "(reference) sha256sum of the image",
                f"ours/sha256sum = {statistics.median(ours) / sha:.2f} (median)",
                "—",
            )
        )
    out.append("")
    return out


def phases(rows):
    present = [(label, rows[label]) for label in (OURS_BIG, OURS_SMALL) if label in rows]
    if not present:
        return []
    out = [
        "Phases of the atfota runs (medians; seconds after the command was sent unless marked untimed):",
        "",
        row(
            "run",
            "device creation (untimed)",
            "boot to Ready (untimed)",
            "OK",
            "first progress URC",
            "100 % URC",
            "`#XFOTA: 4,0`",
            "verify+schedule (4,0 − 100 %)",
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, rs in present:
        tail = [r["done_s"] - r["pct100_s"] for r in rs if r.get("pct100_s") is not None]
        out.append(
            row(
                label,
                median_of(rs, "create_s"),
                median_of(rs, "boot_s"),
                median_of(rs, "ok_s"),
                median_of(rs, "first_progress_s"),
                median_of(rs, "pct100_s"),
                median_of(rs, "done_s"),
                f"{statistics.median(tail):.3f}" if tail else "n/a",
            )
        )
    out.append("")
    return out


def median_of(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None]
    return f"{statistics.median(vals):.3f}" if vals else "n/a"


def peak_rss_mib(rs):
    return max(r["rss_kib"] for r in rs) / 1024


def row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def yes(ok):
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
