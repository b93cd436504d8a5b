#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (run once, then minimized with `run.sh merge`).

Seeds come from the WAMP test suite's single-message vectors (../shared/wamp-testsuite, read here, not
copied wholesale: one file per distinct frame) and a handful of hand-made frames, handshakes and session
programs in the layouts the targets read (see fuzz/src/*.rs).

    python3 fuzz/seeds.py [SUITE_DIR]
"""

import glob
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "wamp-testsuite")
FORMATS = ("json", "msgpack", "cbor")


def write(target, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def vectors():
    """{format: [frame bytes]} from the test suite, in file order."""
    frames = {f: [] for f in FORMATS}
    for path in sorted(glob.glob(os.path.join(SUITE, "singlemessage", "*", "*.json"))):
        with open(path) as f:
            vector = json.load(f)
        for sample in vector["samples"]:
            for fmt, variants in sample.get("serializers", {}).items():
                if fmt in FORMATS:
                    for variant in variants:
                        frames[fmt].append(bytes.fromhex(variant["bytes_hex"]))
            if "wmsg" in sample:
                frames["json"].append(json.dumps(sample["wmsg"], separators=(",", ":")).encode())
    return frames


KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def ws_frame(opcode, payload, fin=True, key=KEY):
    """A masked client frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def rs_frame(kind, payload):
    return struct.pack(">I", (kind << 24) | len(payload)) + payload


def http_request(path="/ws", protocols="wamp.2.json", extra=""):
    return (
        f"GET {path} HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {protocols}\r\n{extra}\r\n"
    ).encode()


# Session programs (fuzz/src/session.rs): byte 0 flags, then steps.
def raw(conn, frame):
    return bytes([0, conn]) + struct.pack("<H", len(frame)) + frame


def built(conn, kind, *operands):
    return bytes([2, conn, kind, *operands])


NO_OPTIONS = (0, 0, 0, 0, 0)
HELLO = lambda c: built(c, 0, 0, 0x0F)  # noqa: E731  realm1, every role


def session_programs():
    join = HELLO(0) + HELLO(1) + HELLO(2) + HELLO(3)
    pubsub = (
        built(1, 3, 1, *NO_OPTIONS, 0)  # SUBSCRIBE com.a
        + built(2, 3, 2, *NO_OPTIONS, 0)
        + built(0, 5, 3, 0x03, 0, 0, 0, 0, 0, 2, 3, 3, *b"abc", 1, 7, 4, 2, 0, 1)  # PUBLISH com.a, ack
        + built(1, 4, 4, 0x80)  # UNSUBSCRIBE (an ID the router sent)
    )
    rpc = (
        built(3, 6, 5, *NO_OPTIONS, 1)  # REGISTER com.b
        + built(2, 8, 6, *NO_OPTIONS, 1, 1, 3, 2, *b"hi")  # CALL com.b
        + built(3, 10, 1, *NO_OPTIONS, 1, 1, 5)  # YIELD request 1
        + built(2, 8, 7, *NO_OPTIONS, 1, 3, 4, *b"\x00\x01\x02\x03")  # CALL, transparent payload
        + built(3, 12, 2, 0, 0)  # ERROR for invocation 2
        + built(1, 6, 8, *NO_OPTIONS, 1)  # REGISTER com.b again: already exists
        + built(3, 7, 9, 0x81)  # UNREGISTER
    )
    leave = built(0, 1, 0) + bytes([4, 1]) + bytes([7, 0, 2])  # GOODBYE, close, HELLO timeout
    new = bytes([5, 0x83, 0]) + HELLO(4) + bytes([5, 0x42, 0]) + HELLO(5) + bytes([7, 7, 0])  # shutdown
    yield bytes([1]) + join + pubsub + rpc + leave
    yield bytes([0]) + join + bytes([6, 0, 0, 6, 1, 0]) + pubsub + bytes([6, 0, 3]) + rpc + bytes([6, 1, 0])
    yield bytes([1]) + join + rpc + bytes([4, 3]) + pubsub + new
    # A callee that understands INTERRUPT; a call that times out, one that is canceled, a caller that leaves.
    interrupting = HELLO(0) + HELLO(1) + HELLO(2) + built(3, 0, 0, 0x8F)
    timeouts = (
        built(3, 6, 1, *NO_OPTIONS, 0)  # REGISTER com.a
        + built(0, 8, 2, 0x40, 0, 0, 0, 5, 0, 0)  # CALL com.a, timeout 5 ms
        + bytes([7, 4, 0])  # 400 ms pass
        + built(1, 8, 3, *NO_OPTIONS, 0, 0)  # CALL com.a
        + built(1, 14, 3, 0x20, 0, 0, 1, 0)  # CANCEL it (mode from `match`: ignored)
        + built(2, 8, 4, *NO_OPTIONS, 0, 0)
        + bytes([4, 2])  # the caller leaves
    )
    yield bytes([1]) + interrupting + timeouts
    yield bytes([0]) + interrupting + timeouts + bytes([6, 0, 0, 6, 1, 0, 7, 6, 0])


def main():
    frames = vectors()
    for fmt in FORMATS:
        for frame in frames[fmt]:
            write(f"codec_{fmt}", frame)
    # WebSocket: byte 0 limit, byte 1 split seed, then masked client frames.
    messages = frames["json"][:40]
    for i, message in enumerate(messages):
        write("websocket_frames", bytes([4, i]) + ws_frame(1, message))
    binary = frames["msgpack"][0]
    write(
        "websocket_frames",
        bytes([4, 3])
        + ws_frame(2, binary[:5], fin=False)
        + ws_frame(9, b"ping")
        + ws_frame(0, binary[5:], fin=True)
        + ws_frame(10, b"")
        + ws_frame(8, struct.pack(">H", 1000) + "bye é".encode()),
    )
    write("websocket_frames", bytes([3, 1]) + ws_frame(2, bytes(300)) + ws_frame(2, bytes(70000)[:1000]))
    write("websocket_frames", bytes([1, 0]) + ws_frame(1, b"x" * 200) + ws_frame(8, b""))
    # RawSocket: 4-byte handshake, byte 4 limit, byte 5 split seed, then frames.
    for serializer, fmt in ((1, "json"), (2, "msgpack"), (3, "cbor")):
        body = b"".join(rs_frame(0, m) for m in frames[fmt][:6]) + rs_frame(1, b"ping") + rs_frame(2, b"")
        write("rawsocket", bytes([0x7F, 0xF0 | serializer, 0, 0, 4, serializer]) + body)
    write("rawsocket", bytes([0x7F, 0x14, 0, 0, 2, 1]) + rs_frame(0, bytes(600)))
    write("rawsocket", bytes([0x7F, 0x01, 0, 1, 0, 0]) + bytes([0x08, 0, 0, 0]))
    # HTTP upgrade requests.
    write("http_upgrade", http_request())
    write("http_upgrade", http_request("/?x=1", "wamp.2.json.batched, wamp.2.cbor,wamp.2.msgpack"))
    write("http_upgrade", http_request("/", "wamp.2.msgpack", "Origin: http://x\r\n") + ws_frame(2, b"\x93\x01"))
    write("http_upgrade", b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n")
    write("http_upgrade", http_request().replace(b"GET", b"POST"))
    # Session programs, and a HELLO plus each test-suite frame on a connection of its serializer.
    for program in session_programs():
        write("session", program)
    for conn, fmt in ((0, "json"), (1, "msgpack"), (2, "cbor")):
        for frame in frames[fmt][::3]:
            write("session", bytes([1]) + HELLO(conn) + raw(conn, frame))


if __name__ == "__main__":
    main()
