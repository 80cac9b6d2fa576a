#!/usr/bin/env python3
"""Writes the seed corpus in corpus/<target>/ from testdata/ and hand-written inputs.

Run from fuzz/: `python3 make-seeds.py` (needs openssl for the DER keys). Each target's input
layout is described in its fuzz_targets/<target>.rs; the control bytes below follow it.
"""
import hashlib
import os
import struct
import subprocess
import zlib

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
HERE = os.path.join(ROOT, 'fuzz')


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def testdata(*path):
    with open(os.path.join(ROOT, 'testdata', *path), 'rb') as f:
        return f.read()


def at_line():
    # Control byte: bit 0 AT%CMNG multi-line strings, bit 1 short limit (control >> 2 bytes).
    seeds = {
        'basic': b'\x00AT\r\nATE0V1\r\nATS3=13;&F;Z\r\nATS3?\r\n',
        'extended': b'\x00AT+CMEE=1;#XFOTA=1,"http://h/a.bin",,"apn"\r\nAT+CMEE?;+CMEE=?\r\n',
        'args': b'\x00at+x=1,,-42,"a\\22b\\5Cc",bare.word,  spaced  \r\nAT%X=9223372036854775807\n',
        'errors': b'\x00XX\r\nAT+\r\nAT+X="open\r\nAT+X=\\zz\r\nAT+X=a"b\r\nAT+X=99999999999999999999\r\n',
        'editing': b'\x00ATX\x08I\r\nAT+CGM\x7fMR\r\nAT+X="\xc3\xa9\x08"\r\n',
        'utf8': b'\x00AT+X="h\xc3\xa9llo \xe2\x82\xac"\r\nAT+X="\\C3\\A9"\r\n',
        'multiline': b'\x01AT%CMNG=0,16842753,0,"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n'
                     b'-----END CERTIFICATE-----"\r\nAT\r\n',
        'too_long': b'\x0bAT+VERYLONG=1\r\nAT\r\n',
        'binary': b'\x00AT\x01\x02\r\n\xff\xfe\r\n\t AT \t\r\n',
    }
    for name, data in seeds.items():
        write('at_line', name, data)


def image_stream():
    # [3 chunk-pattern bytes, limit u16 LE: 0xffff none, else limit / 4], then the image.
    for f in sorted(os.listdir(os.path.join(ROOT, 'testdata', 'images'))):
        if f.endswith('.bin'):
            write('image_stream', f[:-4], bytes([1, 7, 200, 0xff, 0xff]) + testdata('images', f))
    write('image_stream', 'signed-sec-cnt-limit-4096',
          bytes([0, 0, 0, 0x00, 0x04]) + testdata('images', 'signed-sec-cnt.bin'))
    write('image_stream', 'signed-padded-limit-too-small',
          bytes([3, 3, 3, 0x00, 0x02]) + testdata('images', 'signed-padded.bin'))


def modem_uuid(sha256):
    b = bytearray(sha256[:16])
    b[6] = (b[6] & 0x0f) | 0x80
    b[8] = (b[8] & 0x3f) | 0x80
    h = b.hex()
    return f'{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}'.encode()


def delta_header(source, target, patch_len):
    """source/target: (size, sha256, version bytes); the layout of crates/image/src/delta.rs."""
    h = bytearray(0x140)
    struct.pack_into('<HHIIIII', h, 0, 1, 0x140, 0x7544656d, 0, patch_len, source[0], target[0])
    h[0x18:0x38], h[0x38:0x58] = source[1], target[1]
    h[0x58:0x7c], h[0x7c:0xa0] = modem_uuid(source[1]), modem_uuid(target[1])
    h[0xa0:0xa0 + len(source[2])] = source[2]
    h[0xe0:0xe0 + len(target[2])] = target[2]
    return bytes(h)


def tlv_area(entries):
    body = b''.join(struct.pack('<HH', kind, len(value)) + value for kind, value in entries)
    return struct.pack('<HH', 0x6907, 4 + len(body)) + body


def dev_signed_delta(patch, tag=b'1.3.5'):
    """A delta package signed with the development key (Ed25519 over its SHA-256)."""
    from cryptography.hazmat.primitives import serialization
    with open(os.path.join(ROOT, 'crates', 'image', 'keys', 'dev-ed25519.pem'), 'rb') as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    source = (4096, hashlib.sha256(b'source ' + tag).digest(), b'mfw_nrf9160_' + tag)
    target = (4100, hashlib.sha256(b'target ' + tag).digest(), b'mfw_nrf9160_' + tag + b'-next')
    signed = delta_header(source, target, len(patch)) + patch
    digest = hashlib.sha256(signed).digest()
    return signed + tlv_area([(0x10, digest), (0x01, hashlib.sha256(spki).digest()),
                              (0x24, key.sign(digest))])


def delta_package():
    # [3 chunk-pattern bytes, limit u16 LE: 0xffff none, else limit / 4], then the package.
    patch = bytes([0x01, 0x80, 0xfb, 0x01]) + bytes((i * 31) % 251 for i in range(600))
    good = dev_signed_delta(patch)
    write('delta_package', 'dev-signed', bytes([1, 7, 200, 0xff, 0xff]) + good)
    write('delta_package', 'dev-signed-empty-patch', bytes([0, 0, 0, 0xff, 0xff]) + dev_signed_delta(b''))
    write('delta_package', 'dev-signed-limit-too-small', bytes([3, 3, 3, 0x50, 0x00]) + good)
    write('delta_package', 'unsigned', bytes([9, 9, 9, 0xff, 0xff]) + good[:0x140 + len(patch)]
          + tlv_area([(0x10, hashlib.sha256(good[:0x140 + len(patch)]).digest())]))
    write('delta_package', 'header-only', bytes([255, 1, 2, 0xff, 0xff]) + good[:0x140])


def openssl_der(path, public):
    args = ['openssl', 'pkey'] + (['-pubin'] if public else []) + ['-in', path, '-outform', 'DER']
    return subprocess.run(args, capture_output=True, check=True).stdout


def trusted_key():
    # Control: 0 DER public key, 1 PEM text, 2 DER armoured as PUBLIC KEY, 3 as PRIVATE KEY.
    keys = os.path.join(ROOT, 'testdata', 'keys')
    for p in ['trusted-ed25519.pub.pem', 'ecdsa-p256.pub.pem', 'ecdsa-p384.pub.pem', 'rsa-2048.pub.pem',
              'rsa-3072.pub.pem', 'foreign/rsa-4096.pub.pem', 'foreign/x25519.pub.pem',
              'foreign/ecdsa-p521.pub.pem']:
        name = os.path.basename(p)[:-4]
        write('trusted_key', name + '.pem', b'\x01' + testdata('keys', p))
        der = openssl_der(os.path.join(keys, p), True)
        write('trusted_key', name + '.der', b'\x00' + der)
        write('trusted_key', name + '.der-armoured', b'\x02' + der)
    for p in ['trusted-ed25519.pem', 'ecdsa-p256.pem', 'ecdsa-p384.pem', 'rsa-2048.pem',
              'foreign/encrypted-ed25519.pem', 'foreign/rsa-1024.pem']:
        name = os.path.basename(p)[:-4]
        write('trusted_key', name + '.pem', b'\x01' + testdata('keys', p))
        if 'encrypted' not in p:
            write('trusted_key', name + '.der-armoured', b'\x03' + openssl_der(os.path.join(keys, p), False))
    with open(os.path.join(ROOT, 'crates', 'image', 'keys', 'dev-ed25519.pem'), 'rb') as f:
        write('trusted_key', 'dev-ed25519.pem', b'\x01' + f.read())


SECTOR = 0x1000
WRITE = 4


def pad(data, fill=0xff):
    return data + bytes([fill]) * (-len(data) % WRITE)


def bank_header(seq, bank_size, version=1):
    head = struct.pack('<IIQII', 0x53465441, version, seq, bank_size, WRITE)
    return pad(head + struct.pack('<I', zlib.crc32(head)))


def record(seq, key, value, commit=True):
    kind = 0x01 if value is not None else 0x02
    value = value or b''
    head = struct.pack('<BBH', kind | (0x80 if commit else 0), len(key), len(value))
    crc = zlib.crc32(struct.pack('<Q', seq) + head + key + value)
    return pad(head + struct.pack('<I', crc) + key + value)


def bank(seq, bank_size, records, version=1):
    data = bank_header(seq, bank_size, version) + b''.join(records)
    return data + b'\xff' * (bank_size - len(data))


def settings_open():
    # [control: sectors 2 + c % 3, bit 2 fix CRCs; ops; value length], then the flash image.
    b1 = SECTOR  # bank size with 2 or 3 sectors
    b2 = 2 * SECTOR  # with 4 sectors
    seeds = {
        'blank': (0, 0x00, b''),
        'two-keys': (0, 0x00, bank(1, b1, [record(1, b'a', b'1'), record(1, b'modem.version', b'mfw_1.3.5')])),
        'newer-bank-wins': (2, 0xc9, bank(5, b2, [record(5, b'old', b'x')])
                            + bank(6, b2, [record(6, b'k1', b'v1', False), record(6, b'k2', b'v2'),
                                           record(6, b'uncommitted', b'z', False)])),
        'torn-tail': (1, 0x41, bank(3, b1, [record(3, b'a', b'1')])[:0x40] + b'\x12\x34' + b'\xff' * 0x100),
        'remove': (0, 0x8f, bank(2, b1, [record(2, b'a', b'1'), record(2, b'b', b'2'), record(2, b'a', None)])),
        'stale-crc-fixed': (4, 0x06, bank(1, b1, [record(9, b'fix.me', b'value')])),
        'nearly-full': (0, 0xc0 | 0x1b, bank(1, b1, [record(1, b'big', b'\xab' * 3900)])),
        'foreign-version': (0, 0x00, bank(1, b1, [record(1, b'a', b'1')], version=2)),
        'fota-keys': (0, 0x00, bank(4, b1, [record(4, b'fota.dl.id', b'app http://h/a.bin'),
                                           record(4, b'fota.dl.offset', struct.pack('<Q', 4096)),
                                           record(4, b'fota.pending', b'app')])),
    }
    for name, (control, ops, image) in seeds.items():
        # The harness pads with erased bytes: trailing ones need not be stored.
        write('settings_open', name, bytes([control, ops, 40]) + image.rstrip(b'\xff'))


def dev_signed_image(body_len, version=(2, 0, 0, 0)):
    """An MCUboot image signed with the development key, as `atfota_image::sign` makes them:
    header padded to 0x200, then TLVs SHA256, KEYHASH and ED25519 over the SHA-256 digest."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    with open(os.path.join(ROOT, 'crates', 'image', 'keys', 'dev-ed25519.pem'), 'rb') as f:
        key = load_pem_private_key(f.read(), password=None)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    body = bytes((i * 7 + (i >> 8)) & 0xff for i in range(body_len))
    major, minor, revision, build = version
    header = struct.pack('<IIHHIIBBHII', 0x96f3b83d, 0, 0x200, 0, body_len, 0,
                         major, minor, revision, build, 0)
    hashed = header + b'\xff' * (0x200 - len(header)) + body
    digest = hashlib.sha256(hashed).digest()
    entries = [(0x10, digest), (0x01, hashlib.sha256(spki).digest()), (0x24, key.sign(digest))]
    tlvs = b''.join(struct.pack('<HH', kind, len(value)) + value for kind, value in entries)
    return hashed + struct.pack('<HH', 0x6907, 4 + len(tlvs)) + tlvs


def modem_input():
    # [flags, call percentage, 2 chunk-pattern bytes], host bytes, NUL, the served file.
    # Flags: bit 0 fail self-test; bits 1-2: complete, drop halfway, not found, cancelled;
    # bit 3: NL668 instead of the nRF9160 SLM; bit 4: an incoming call rings; bits 5-6: server
    # quirk (none, short total, data first, wrong resume offset); bit 7: stall halfway.
    slm_url = b'AT#XFOTA=1,"http://127.0.0.1/app.bin"\r\n'
    nl_url = b'AT+GTOTA=0,"127.0.0.1/app.bin"\r\n'
    nl_ftp = b'AT+GTOTA=1,"127.0.0.1:21","app.bin","user","secret"\r\n'
    dev = testdata('images', 'signed-dev.bin')
    # Over two 4 KiB sectors: a transfer dropped halfway leaves a checkpoint to resume from.
    big = dev_signed_image(0x2400)
    nl = 0x08
    seeds = {
        'identify': (0, b'AT\r\nATI\r\nAT+CGMI;+CGMM;+CGMR\r\nAT#XSLMVER\r\nAT+CMEE=2\r\nAT+CMEE?\r\n'
                        b'AT+CMEE=?\r\nAT#XFOTA=?\r\nAT#XFOTA=2\r\nATE1\r\nATZ\r\nAT+CMEE=1;#XFOTA=7\r\n', b''),
        'install': (0, slm_url + b'AT#XRESET\r\nAT#XSLMVER\r\n', dev),
        'revert': (1, slm_url + b'AT#XRESET\r\nAT#XSLMVER\r\nAT#XRESET\r\n', dev),
        'drop-and-resume': (2, slm_url + slm_url + b'AT#XFOTA=0\r\n' + slm_url, dev),
        'not-found': (4, slm_url + b'AT#XFOTA=0\r\nAT#XFOTA=8\r\n', dev),
        'cancelled': (6, slm_url + b'AT#XRESET\r\n' + slm_url, dev),
        'busy-then-erase': (2, slm_url + b'AT#XFOTA=8\r\nAT#XFOTA=0\r\nAT#XFOTA=8\r\n', dev),
        'untrusted': (0, slm_url + b'AT#XRESET\r\n', testdata('images', 'signed-ed25519.bin')),
        'bad-hash': (0, slm_url + b'AT#XRESET\r\n', testdata('images', 'bad-hash.bin')),
        'bad-args': (0, b'AT#XFOTA=1\r\nAT#XFOTA=1,""\r\nAT#XFOTA=1,"https://h/a.bin"\r\n'
                        b'AT#XFOTA=1,"https://h/a.bin",5\r\nAT#XFOTA=1,"ftp://h/a"\r\n'
                        b'AT#XFOTA=1,"http://h/a.bin",-1\r\nAT#XFOTA=0,1\r\n', b''),
        'resume-big': (2, slm_url + slm_url, big),
        'resume-wrong-offset': (2 | 0x60, slm_url + slm_url, big),
        'stall-busy-cancel': (0x80, slm_url + slm_url + b'AT#XFOTA=0\r\nAT#XFOTA=8\r\n' + slm_url, big),
        'stall-reset-resume': (0x80, slm_url + b'AT#XRESET\r\n' + slm_url, big),
        'download-twice': (0, slm_url + slm_url + b'AT#XFOTA=8\r\n' + slm_url, dev),
        'short-total': (0x20, slm_url, dev),
        'data-first': (0x40, slm_url, dev),
        'nl668-identify': (nl, b'ATI\r\nAT+CGMI;+CGMM;+CGMR\r\nAT+GTOTA=?\r\nAT+GTSET=?\r\nAT+GTSET?\r\n'
                              b'AT+GTSET="CALLBREAK",1\r\nAT+GTSET="gprsfirst"\r\nAT+GTSET="X",2\r\n', b''),
        'nl668-install': (nl, nl_url + b'AT+CGMR\r\n', dev),
        'nl668-ftp': (nl, nl_ftp + b'AT+CGMR\r\n', dev),
        'nl668-call-breaks': (nl | 0x10, nl_url + b'AT+GTSET="CALLBREAK",1\r\n' + nl_url, dev),
        'nl668-revert': (nl | 1, nl_url + b'AT+CGMR\r\n', dev),
        'nl668-bad-args': (nl, b'AT+GTOTA=0\r\nAT+GTOTA=2,"h/a"\r\nAT+GTOTA=0,"h/a","f"\r\n'
                              b'AT+GTOTA=1,"h","f","u"\r\nAT+GTOTA=1,"h:99999","f","u","p"\r\n'
                              b'AT+GTOTA=0,"https://h/a"\r\nAT+GTOTA?\r\n', b''),
    }
    for name, (flags, host, served) in seeds.items():
        write('modem_input', name, bytes([flags, 40, 5, 90]) + host + b'\0' + served)


def patch_apply():
    # Control byte 0 (8 MiB LZMA dictionary limit), chunk pattern, old firmware length (u16 LE),
    # old firmware, patch. Pairs whose old firmware fits 64 KiB; the 1 MiB pair is left out.
    for pair in ('elf', 'empty-from', 'identical', 'empty-to'):
        old = testdata('delta', pair, 'from.bin')
        for maker in ('detools', 'ours'):
            for c in ('none', 'lzma', 'heatshrink'):
                patch = testdata('delta', pair, f'{maker}-{c}.patch')
                write('patch_apply', f'{pair}-{maker}-{c}',
                      struct.pack('<BBH', 0, 40, len(old)) + old + patch)
    # A tight LZMA limit (64 KiB: ours passes, detools' 8 MiB dictionary does not), 1-byte chunks.
    old = testdata('delta', 'elf', 'from.bin')
    # detools' heatshrink with other windows, and patches of kinds we refuse.
    for name in ('detools-heatshrink-w4-l3', 'detools-heatshrink-w12-l4', 'detools-heatshrink-w15-l14',
                 'refused-hdiffpatch', 'refused-in-place', 'refused-bz2', 'refused-data-format'):
        write('patch_apply', f'elf-{name}',
              struct.pack('<BBH', 0, 40, len(old)) + old + testdata('delta', 'elf', f'{name}.patch'))
    for maker in ('detools', 'ours'):
        write('patch_apply', f'elf-{maker}-lzma-limit-64k-bytewise',
              struct.pack('<BBH', 1, 0, len(old)) + old + testdata('delta', 'elf', f'{maker}-lzma.patch'))


def patch_create():
    # Compression in bits 0-1, old firmware length (u16 LE), old firmware, new firmware: the
    # ELF pair's first 4 KiB (patch_apply's round-trip seeds before the split).
    old = testdata('delta', 'elf', 'from.bin')
    new = testdata('delta', 'elf', 'to.bin')
    for i, c in enumerate(('none', 'lzma', 'heatshrink')):
        write('patch_create', f'elf-{c}', struct.pack('<BH', i, 4096) + old[:4096] + new[:4096])


def ftp_reply():
    # [3 chunk-pattern bytes, peer byte: 0 public v4, 1 loopback, 2 private v4, 3 public v6],
    # then what an FTP server sends on the control connection.
    seeds = {
        'session': b'220 pyftpdlib 2.2.0 ready.\r\n331 Username ok, send password.\r\n'
                   b'230 Login successful.\r\n200 Type set to: Binary.\r\n213 268436528\r\n'
                   b'213 20261201105400\r\n229 Entering extended passive mode (|||30007|).\r\n'
                   b'150 File status okay. About to open data connection.\r\n'
                   b'226 Transfer complete.\r\n221 Goodbye.\r\n',
        'pasv': b'227 Entering Passive Mode (127,0,0,1,117,55).\r\n227 Entering Passive Mode 0,0,0,0,4,1\r\n'
                b'227 =10,1,2,3,200,10\r\n227 (300,1,1,1,1,1)\r\n227 (1,1,1,1,0,0)\r\n',
        'epsv': b'229 Entering Extended Passive Mode (|||6446|)\r\n229 (!!!65535!)\r\n229 (|||0|)\r\n'
                b'229 (|||65536|)\r\n229 (1116|)\r\n',
        'size_mdtm': b'213 0\r\n213 18446744073709551615\r\n213 18446744073709551616\r\n'
                     b'213 20261201105400.123\r\n213 2026120110540\r\n213 -5\r\n',
        'multi_line': b'220-Welcome to Pure-FTPd.\r\n220-You are user number 1 of 50.\r\n'
                      b'   220 is not the end\r\n220-Local time is now 11:00.\r\n220 ready\r\n'
                      b'230-\r\n230 in\n',
        'refusals': b'120 Service ready in 5 minutes.\r\n421 Too many users.\r\n530 Login incorrect.\r\n'
                    b'550 No such file.\r\n',
        'broken': b'220\r\n22 short\r\n600 too big\r\n220x no separator\r\n',
        'binary': b'220 \xff\xfe\x00\x07bell\x1b[0m \xc3\xa9t\xc3\xa9\r\n',
        'long_line': b'220 ' + b'x' * 5000 + b'\r\n',
    }
    for i, (name, data) in enumerate(seeds.items()):
        write('ftp_reply', name, bytes([0, 7, 40, i % 4]) + data)


def http_head():
    # [flags: bit 0 the request carried If-Range "known"; requested offset u64 LE], then the
    # response head as a server sends it.
    def head(status, *fields):
        return (f'HTTP/1.1 {status}\r\n' + ''.join(f + '\r\n' for f in fields) + '\r\n').encode()

    seeds = {
        'ok': (0, 0, head('200 OK', 'Server: nginx', 'Content-Length: 268436528',
                          'ETag: "692d7a1b-10000230"', 'Last-Modified: Mon, 01 Dec 2026 10:54:00 GMT')),
        'ok_weak_etag': (0, 5, head('200 OK', 'content-length: 10', 'etag: W/"x"')),
        'ok_no_length': (0, 0, head('200 OK', 'Transfer-Encoding: chunked')),
        'partial': (1, 1000, head('206 Partial Content', 'Content-Length: 9000',
                                  'Content-Range: bytes 1000-9999/10000', 'ETag: "abc"')),
        'partial_known': (1, 4096, head('206 Partial Content', 'Content-Range: bytes 4096-8191/8192')),
        'partial_wrong': (0, 10, head('206 Partial Content', 'Content-Range: bytes 0-99/100')),
        'partial_star': (0, 0, head('206 Partial Content', 'Content-Range: bytes 0-99/*')),
        'unsatisfied': (1, 8192, head('416 Range Not Satisfiable', 'Content-Range: bytes */8192')),
        'redirect': (0, 0, head('302 Found', 'Location:  /images/app.bin ', 'Content-Length: 0')),
        'redirect_none': (0, 0, head('308 Permanent Redirect')),
        'not_found': (0, 0, head('404 Not Found', 'Content-Length: 153')),
        'http10': (0, 0, b'HTTP/1.0 200 OK\nContent-Length: 5\n\n'),
        'odd_values': (0, 0, head('200 OK', 'Content-Length: +5', 'Content-Length: 5',
                                  'ETag: "\xe9"'.encode('latin-1').decode('latin-1'))),
    }
    for name, (flags, requested, data) in seeds.items():
        write('http_head', name, struct.pack('<BQ', flags, requested) + data)


if __name__ == '__main__':
    at_line()
    image_stream()
    delta_package()
    trusted_key()
    settings_open()
    modem_input()
    patch_apply()
    patch_create()
    ftp_reply()
    http_head()
