"""Example worker for examples/container/supervisord.conf: asks the web program for its page
every few seconds and says what it got. It is started only once web is healthy (depends_on)."""

from __future__ import annotations

import signal
import sys
import time
import urllib.request


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8080/"
    interval = float(argv[2]) if len(argv) > 2 else 5.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"worker: polling {url} every {interval:g}s", flush=True)
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                print(f"worker: {url} answered {response.status}", flush=True)
        except OSError as exc:
            print(f"worker: {url} did not answer: {exc}", file=sys.stderr, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
