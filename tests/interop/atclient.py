#!/usr/bin/env python3
"""A minimal scripted AT client over a serial port or PTY (pyserial), for the interop suite.

Sends exactly the bytes a host tool sends (for AT%CMNG: the PEM with its line breaks inside the
quotes, CRLF at the end), waits for final results and URCs, and exits non-zero with the
transcript when something is not as expected.

Usage: atclient.py PORT STEP...
  send:TEXT        send TEXT + CRLF and expect OK (TEXT may contain \\n, sent as LF)
  sendfile:FMT:F   send FMT with {} replaced by the contents of file F (line breaks kept), expect OK
  crlf:FMT:F       like sendfile, with the file's line breaks turned into CRLF
  cmd:TEXT         send TEXT + CRLF and accept any final result
  write:TEXT       send TEXT + CRLF and wait for nothing (when URCs may come before the final
                   result, follow with expect: steps in the order they must arrive)
  expect:TEXT      wait (60 s) for a line equal to TEXT
  contains:TEXT    wait for a line containing TEXT
"""
import sys
import time

import serial

FINALS = ("OK", "ERROR")


def main():
    port, steps = sys.argv[1], sys.argv[2:]
    s = serial.Serial(port, 115200, timeout=0.2)
    transcript = []
    buf = b""

    def lines(deadline):
        nonlocal buf
        while time.time() < deadline:
            chunk = s.read(4096)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text:
                    transcript.append("<- " + text)
                    yield text

    def wait(pred, what):
        for line in lines(time.time() + 60):
            if pred(line):
                return line
        sys.exit("timed out waiting for %s\n%s" % (what, "\n".join(transcript[-30:])))

    def send(text):
        transcript.append("-> " + text.replace("\r\n", "\\r\\n").replace("\n", "\\n")[:120])
        s.write(text.encode() + b"\r\n")

    for step in steps:
        kind, _, arg = step.partition(":")
        if kind in ("send", "cmd", "write"):
            send(arg.replace("\\n", "\n"))
        elif kind in ("sendfile", "crlf"):
            fmt, _, path = arg.rpartition(":")
            content = open(path).read().rstrip("\n")
            if kind == "crlf":
                content = content.replace("\n", "\r\n")
            send(fmt.replace("{}", content))
        if kind in ("send", "sendfile", "crlf"):
            final = wait(lambda l: l in FINALS or l.startswith("+CME ERROR"), "a final result")
            if final != "OK":
                sys.exit("%s answered %s\n%s" % (step[:80], final, "\n".join(transcript[-30:])))
        elif kind == "cmd":
            wait(lambda l: l in FINALS or l.startswith("+CME ERROR"), "a final result")
        elif kind == "expect":
            wait(lambda l, a=arg: l == a or (l.startswith("#XFOTA: 1,1,") and a != l), arg)
            if transcript[-1] != "<- " + arg:
                sys.exit("got %s instead of %s\n%s" % (transcript[-1], arg, "\n".join(transcript[-30:])))
        elif kind == "contains":
            wait(lambda l, a=arg: a in l, arg)
    print("\n".join(transcript))


if __name__ == "__main__":
    main()
