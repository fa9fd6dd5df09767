"""The reap benchmark's program: make N orphans, then time how long zombies linger.

    python orphans.py --count N --result FILE [--go FILE]

For each orphan: fork a child that forks a grandchild and exits at once (reaped here), so the
grandchild is re-parented to PID 1 of the namespace; the grandchild exits immediately, and is a
zombie until PID 1 reaps it. After the last fork, polls /proc for the grandchildren until none
is left (reaped), then writes JSON to FILE: the time to make them, the total time from the
first fork until no zombie remains, and the lag after the last fork. Then exits 0.
With ``--go``, it first writes ``FILE.ready`` and waits for FILE to exist before forking (so
the bench can sample PID 1's CPU time just before the burst), and after writing the result
waits (up to ``--timeout``) for ``FILE.done``: under tini, PID 1 exits with its child, and the
bench must read PID 1's CPU time once more while it is still there.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time


def state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--go")
    a = p.parse_args()
    if a.go:
        with open(a.go + ".ready", "w"):
            pass
        while not os.path.exists(a.go):
            time.sleep(0.001)
    r, w = os.pipe()
    grandchildren: list[int] = []
    t0 = time.monotonic()
    for _ in range(a.count):
        pid = os.fork()
        if pid == 0:
            try:
                g = os.fork()
                if g == 0:
                    os._exit(0)
                os.write(w, struct.pack("i", g))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        grandchildren.append(struct.unpack("i", os.read(r, 4))[0])
    t_forked = time.monotonic()
    left = set(grandchildren)
    deadline = t_forked + a.timeout
    polls = 0
    while left and time.monotonic() < deadline:
        left = {g for g in left if state(g) is not None}
        polls += 1
        if left:
            time.sleep(0.0005)
    t_done = time.monotonic()
    zombies = sum(1 for g in left if state(g) == "Z")
    with open(a.result + ".tmp", "w") as f:
        json.dump(
            {
                "count": a.count,
                "fork_s": t_forked - t0,
                "total_s": t_done - t0,
                "lag_s": t_done - t_forked,
                "left": len(left),
                "zombies": zombies,
                "polls": polls,
                "my_pid": os.getpid(),
            },
            f,
        )
    os.rename(a.result + ".tmp", a.result)
    if a.go:
        deadline = time.monotonic() + a.timeout
        while not os.path.exists(a.go + ".done") and time.monotonic() < deadline:
            time.sleep(0.001)
    return 0


if __name__ == "__main__":
    sys.exit(main())
