"""The seed's receiving side (../shared/seed/server.py), headless, with the statistics our client logs.

The receive path is the seed's: accept one connection, `data += conn.recv(4096)` until the 4-byte ">L" length is
in, then until the whole message is in, pickle.loads(..., fix_imports=True, encoding="bytes"), cv2.imdecode
(IMREAD_COLOR). The pickle holds (capture timestamp in Unix ns, JPEG) -- see seed_sender.py -- and the latency is
the time from that timestamp to the decoded frame, as our client measures it. Instead of cv2.imshow it logs, every
--interval seconds, one JSON line in the format of our client's stats record (frames, fps, latency_p50_ms,
latency_p99_ms over the interval, nearest rank) plus the cumulative bytes received.

Usage: seed_receiver.py --port N [--interval 1]
Run with Debian's /usr/bin/python3 (python3-opencv).
"""

import argparse
import datetime
import json
import pickle
import signal
import socket
import struct
import sys
import time

import cv2


def percentile(sorted_values, p):
    i = int(p * len(sorted_values) + 0.5) - 1
    return sorted_values[min(max(i, 0), len(sorted_values) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", args.port))
    s.listen(10)
    print(json.dumps({"msg": "listening", "port": args.port}), flush=True)
    conn, addr = s.accept()

    frames = 0
    nbytes = 0
    shown = 0
    lat = []
    since = time.monotonic()

    def report():
        nonlocal shown, lat, since
        now = time.monotonic()
        rec = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(), "msg": "stats", "frames": frames,
               "fps": round(shown / (now - since), 2), "bytes": nbytes}
        if lat:
            lat.sort()
            rec["latency_p50_ms"] = round(percentile(lat, 0.50), 2)
            rec["latency_p99_ms"] = round(percentile(lat, 0.99), 2)
        print(json.dumps(rec), flush=True)
        shown, lat, since = 0, [], now

    data = b""
    payload_size = struct.calcsize(">L")
    while True:
        while len(data) < payload_size:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        packed_msg_size = data[:payload_size]
        data = data[payload_size:]
        msg_size = struct.unpack(">L", packed_msg_size)[0]
        while len(data) < msg_size:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        frame_data = data[:msg_size]
        data = data[msg_size:]
        captured, image = pickle.loads(frame_data, fix_imports=True, encoding="bytes")
        frame = cv2.imdecode(image, cv2.IMREAD_COLOR)
        if frame is None:
            continue
        frames += 1
        nbytes += payload_size + msg_size
        shown += 1
        lat.append((time.time_ns() - captured) / 1e6)
        if time.monotonic() - since >= args.interval:
            report()


if __name__ == "__main__":
    main()
