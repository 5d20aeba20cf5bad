"""Behaviour shared by the stand-in ``opencv_createsamples`` / ``opencv_traincascade``.

The scripts print their arguments as JSON (``ARGV [...]``), a few lines like the real
tools (one on stderr, counters ended by a carriage return), and obey these variables:

* ``FAKE_OPENCV_HANDSHAKE=<path>``: print ``waiting for <path>`` and wait up to 20 s for
  that file to appear (the caller creates it when it sees the line: proof that output
  arrives while the tool runs); exit 3 if it never does.
* ``FAKE_OPENCV_EXIT=<code>``: exit with this status (after printing ``failure line N``).
* ``FAKE_OPENCV_ABORT=1``: die by SIGABRT, as OpenCV does on an uncaught exception.
* ``FAKE_OPENCV_NO_CASCADE=1``: traincascade ends with status 0 but writes no cascade.xml.
"""

import json
import os
import sys
import time


def main(name: str) -> None:
    args = sys.argv[1:]
    print("ARGV " + json.dumps(args), flush=True)
    print(f"{name}: stand-in for tests", file=sys.stderr, flush=True)
    handshake = os.environ.get("FAKE_OPENCV_HANDSHAKE")
    if handshake:
        print(f"waiting for {handshake}", flush=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(handshake):
            if time.monotonic() > deadline:
                print("handshake timed out", flush=True)
                sys.exit(3)
            time.sleep(0.01)
        print("handshake done", flush=True)
    for count in range(1, 4):
        sys.stdout.write(f"NEG current samples: {count}\r")
        sys.stdout.flush()
    print("NEG count : acceptanceRatio    3 : 1", flush=True)
    if os.environ.get("FAKE_OPENCV_ABORT"):
        os.abort()
    status = int(os.environ.get("FAKE_OPENCV_EXIT", "0"))
    if status:
        for i in range(1, 21):
            print(f"failure line {i}")
        sys.exit(status)
    if name == "opencv_traincascade" and not os.environ.get("FAKE_OPENCV_NO_CASCADE"):
        data = args[args.index("-data") + 1]
        with open(os.path.join(data, "cascade.xml"), "w") as f:
            f.write("<opencv_storage></opencv_storage>\n")
    print("Done", flush=True)
