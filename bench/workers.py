"""Keep-alive latency with --workers 2 against one worker (the TCP_NODELAY check).

    python bench/workers.py --quick
    python bench/workers.py --dsn postgresql://... --event 1

uvicorn 0.54 does not set TCP_NODELAY on the sockets its worker processes
accept (Kludex/uvicorn#3149): each keep-alive answer then waited ~44 ms for
the client's delayed ACK. gql_server/web/serving.py sets it on every connection.
This starts `gql-server serve --workers N` for N = 1 and 2, alternately, and
times `{ __typename }` and a page of 20 sessions one after another on one
keep-alive connection. The last line is key=value figures.
"""

import asyncio
import time
from contextlib import ExitStack

import orjson
from common import RawClient, login, machine, median, percentile, server
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given

TYPENAME = orjson.dumps({"query": "{ __typename }"})
PAGE = "query($e: ID!) { event(id: $e) { sessions(first: 20) { nodes { id title liveViews } } } }"


async def latencies(url: str, body: bytes, headers: dict[str, str], count: int) -> list[float]:
    client = RawClient(url)
    samples = []
    try:
        for _ in range(count):
            began = time.perf_counter()
            status, _ = await client.post("/graphql", body, headers)
            assert status == 200, status
            samples.append((time.perf_counter() - began) * 1000)
    finally:
        await client.close()
    return samples[10:]  # warm-up


def main() -> None:
    args = parse_event_args(event_parser(__doc__), quick_seconds=0, seconds=0)
    figures: dict[str, list[float]] = {}
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        page = orjson.dumps({"query": PAGE, "variables": {"e": event_id}})
        for _round in range(2):
            for workers in (1, 2):
                with server(dsn, workers=workers) as url:
                    auth = {"Authorization": f"Bearer {login(url, HOST_EMAIL, PASSWORD)}"}
                    for name, body, headers in (("typename", TYPENAME, {}), ("page", page, auth)):
                        samples = asyncio.run(latencies(url, body, headers, 310))
                        figures.setdefault(f"{name}_w{workers}", []).extend(samples)
    print(f"machine: {machine()}")
    for key, samples in figures.items():
        print(f"  {key:12} p50 {median(samples):6.2f} ms  p99 {percentile(samples, 0.99):6.2f} ms")
    summary = {f"{key}_p50_ms": round(median(s), 2) for key, s in figures.items()}
    summary["typename_ratio_w2_w1"] = round(
        median(figures["typename_w2"]) / median(figures["typename_w1"]), 2
    )
    print(" ".join(f"{key}={value}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
