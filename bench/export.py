"""The per-attendee export's throughput and the server's memory while it streams.

    python bench/export.py --quick
    python bench/export.py --dsn postgresql://... --event 1   # an event from generate.py

Downloads GET /events/{id}/viewers.csv and .ndjson from `gql-server serve`
on loopback as the event's host, reading the body as it streams, and samples
the server process's resident memory meanwhile. The export is read through a
server-side cursor, so the peak should not grow with the event: compare the
--quick event (2,000 viewers) with generate.py's 100,000. The last line is
key=value figures.
"""

import threading
import time
from contextlib import ExitStack
from typing import Any

import httpx2
import psutil
from common import login, machine, server_process
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given


def rss(pid: int) -> int:
    process = psutil.Process(pid)
    return process.memory_info().rss + sum(c.memory_info().rss for c in process.children(True))


def download(url: str, token: str, event_id: int, fmt: str, pid: int) -> dict[str, Any]:
    peak, done = [rss(pid)], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    before = rss(pid)
    sampler.start()
    began = time.perf_counter()
    lines = size = 0
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx2.stream("GET", f"{url}/events/{event_id}/viewers.{fmt}", headers=headers,
                           timeout=600) as response:  # fmt: skip
            assert response.status_code == 200, response.status_code
            for chunk in response.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - began
    rows = lines - (1 if fmt == "csv" else 0)  # the CSV's header line
    return {"rows": rows, "seconds": seconds, "mib": size / 2**20,
            "rss_before_mib": before / 2**20, "rss_peak_mib": peak[0] / 2**20}  # fmt: skip


def main() -> None:
    args = parse_event_args(event_parser(__doc__), quick_seconds=0, seconds=0)
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        url, process = stack.enter_context(server_process(dsn))
        token = login(url, HOST_EMAIL, PASSWORD)
        figures: dict[str, Any] = {}
        print(f"machine: {machine()}")
        for fmt in ("csv", "ndjson"):
            got = download(url, token, event_id, fmt, process.pid)
            print(f"  viewers.{fmt}: {got['rows']} rows, {got['mib']:.1f} MiB in"
                  f" {got['seconds']:.2f} s = {got['rows'] / got['seconds']:,.0f} rows/s;"
                  f" server RSS {got['rss_before_mib']:.1f} -> peak"
                  f" {got['rss_peak_mib']:.1f} MiB")  # fmt: skip
            figures[f"{fmt}_rows_per_s"] = round(got["rows"] / got["seconds"])
            figures[f"{fmt}_peak_rss_mib"] = round(got["rss_peak_mib"], 1)
            figures[f"{fmt}_rss_growth_mib"] = round(
                got["rss_peak_mib"] - got["rss_before_mib"], 1
            )
        figures["rows"] = got["rows"]
    print(" ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
