"""The seed's sending side (../shared/seed/client.py), on the benchmark clip instead of a webcam.

It does what the seed does per frame -- read a frame with cv2.VideoCapture (decoded to BGR), JPEG-encode it with
cv2.imencode, pickle it with protocol 0, send struct.pack(">L", len) + pickle with sendall -- with three changes
the benchmark needs, and nothing else:
  - the frame is not resized to 320 px, mirrored or shown, and every frame is sent (the seed sends every 10th):
    the workload is the same 1280x720 clip our server gets;
  - JPEG quality 80 (the seed: 90), the quality of our server;
  - the pickle is of a tuple (capture timestamp in Unix ns, encoded JPEG ndarray) instead of the ndarray alone, so
    that the receiver can measure latency. The timestamp is taken when cap.read() returns, as our server does.
At the end of the clip it rewinds (our server loops files the same way). With --fps F > 0 reads are scheduled
every 1/F s (our server paces files the same way); with --fps 0 it reads as fast as it can, and sendall blocks
when the receiver falls behind: frames queue in the socket buffers.

Usage: seed_sender.py --clip clip.avi --port N [--host 127.0.0.1] [--fps 30] [--quality 80]
Run with Debian's /usr/bin/python3 (python3-opencv).
"""

import argparse
import pickle
import signal
import socket
import struct
import sys
import time

import cv2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fps", type=float, default=0)
    ap.add_argument("--quality", type=int, default=80)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    client_socket = None
    deadline = time.monotonic() + 10
    while client_socket is None:  # the receiver may still be starting
        try:
            client_socket = socket.create_connection((args.host, args.port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)

    cam = cv2.VideoCapture(args.clip)
    if not cam.isOpened():
        sys.exit("seed_sender: cannot open " + args.clip)
    encode_param = [int(cv2.IMWRITE_JPEG_QUALITY), args.quality]
    interval = 1.0 / args.fps if args.fps > 0 else 0.0
    next_read = time.monotonic()
    try:
        while True:
            if interval:
                now = time.monotonic()
                if next_read > now:
                    time.sleep(next_read - now)
                next_read = max(next_read + interval, time.monotonic() - interval)
            ret, frame = cam.read()
            if not ret:
                cam.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            captured = time.time_ns()
            result, image = cv2.imencode(".jpg", frame, encode_param)
            data = pickle.dumps((captured, image), 0)
            size = len(data)
            client_socket.sendall(struct.pack(">L", size) + data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        cam.release()


if __name__ == "__main__":
    main()
