"""One gRPC TailLog follower for log_fanout, run as its own process (so four of them do not
share one GIL with each other or with the bench).

    python follower.py --address unix:///path/grpc.sock --bytes N w0 w1 ...

Follows stdout of the named processes from offset 0 (they have not started yet), checks that
every chunk starts where the previous one of its process ended (a ``gap`` chunk accounts for
bytes explicitly), and checks each data chunk against the numbered-line stream at its offset.
Prints ``ready`` once the call is made, then one JSON line with what it saw when every
process has reached N bytes (or at ``--timeout``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_lines import Expected


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--address", required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("names", nargs="+")
    a = p.parse_args()
    target = a.address.replace("unix://", "unix:", 1)
    channel = grpc.insecure_channel(target)
    stub = pb_grpc.SupervisorServiceStub(channel)
    request = pb.TailLogRequest(
        processes=a.names, streams=[pb.LOG_STREAM_STDOUT], follow=True, offset=0
    )
    call = stub.TailLog(request)
    timer = threading.Timer(a.timeout, call.cancel)
    timer.daemon = True
    timer.start()
    print("ready", flush=True)
    expected = Expected()
    nxt = dict.fromkeys(a.names, 0)
    unfinished = set(a.names)
    data_bytes = gap_bytes = unaccounted = garbled = chunks = 0
    t_first = t_done = None
    try:
        for msg in call:
            name = msg.process.rsplit(":", 1)[-1]
            if name not in nxt:
                continue
            chunks += 1
            if t_first is None:
                t_first = time.monotonic()
            if msg.offset != nxt[name]:
                unaccounted += abs(msg.offset - nxt[name])
            if msg.WhichOneof("content") == "gap":
                gap_bytes += msg.gap
                nxt[name] = msg.offset + msg.gap
            else:
                data = msg.data
                data_bytes += len(data)
                if data != expected.slice(msg.offset, len(data)):
                    garbled += len(data)
                nxt[name] = msg.offset + len(data)
            if nxt[name] >= a.bytes and name in unfinished:
                unfinished.discard(name)
                if not unfinished:
                    t_done = time.monotonic()
                    break
    except grpc.RpcError as exc:
        if exc.code() is not grpc.StatusCode.CANCELLED:
            print(json.dumps({"error": f"{exc.code()}: {exc.details()}"}), flush=True)
            return 1
    finally:
        timer.cancel()
        call.cancel()
        channel.close()
    print(
        json.dumps(
            {
                "t_first": t_first,
                "t_done": t_done,
                "data_bytes": data_bytes,
                "gap_bytes": gap_bytes,
                "unaccounted": unaccounted + sum(max(0, a.bytes - n) for n in nxt.values()),
                "garbled": garbled,
                "chunks": chunks,
                "complete": not unfinished,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
