"""Click-to-GIFs latency and a bounded load test of the running app, from real `gradio_client` clients.

    python -m predictor.appbench --launch                              # start app.py, time its startup, 10 requests
    python -m predictor.appbench --launch --clients 8 --requests 4     # bounded load test: 8 clients x 4 requests
    python -m predictor.appbench --url http://127.0.0.1:7860/          # an app that is already running

Each request is the app's main action, `/predict`: 10 seed frames -> 10 predicted frames of a bundled
example, every output built (GIFs, frame strip, metrics, .npy/.gif/.mp4); the latency runs from the click
until the result has arrived and the three GIFs the page shows are fetched, in parallel as a browser does
(`--download-all`: until gradio_client has downloaded all seven files, one after the other). Prints
p50/p95/max latency, throughput and errors, the server-side split of one request (model / files /
metrics, from the app's own summary), and with `--launch` the startup time: from starting `python app.py`
to its first HTTP 200. Loopback only.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_client(url: str, requests: int, offset: int, download_all: bool = False) -> list[float | Exception]:
    """Latencies in seconds (or the exception) of `requests` sequential clicks from one client.

    A click is `/predict` until its result arrives, then the three GIFs the page shows (truth, prediction,
    panel) fetched in parallel, as a browser does. With `download_all`, gradio_client instead downloads all
    seven output files one after the other (GIFs, strip, .npy, .gif, .mp4).
    """
    import httpx
    from gradio_client import Client

    client, out = Client(url, verbose=False, download_files=download_all), []
    with httpx.Client(timeout=60) as http, ThreadPoolExecutor(3) as pool:
        for i in range(requests):
            t0 = time.perf_counter()
            try:
                res = client.predict("example", (offset + i) % 32, 0, 10, 10, "free-running", "default",
                                     api_name="/predict")
                if not download_all:
                    gifs = [r["url"] for r in res[:3]]
                    for r in pool.map(http.get, gifs):
                        r.raise_for_status()
                        if not r.content.startswith(b"GIF8"):
                            raise RuntimeError(f"not a GIF: {r.url}")
                out.append(time.perf_counter() - t0)
            except Exception as e:  # counted and reported, never hidden
                out.append(e)
    return out


def server_split(url: str) -> str:
    """The server's own timing line for one request (from the summary markdown)."""
    from gradio_client import Client

    summary = Client(url, verbose=False).predict("example", 0, 0, 10, 10, "free-running", "default",
                                                 api_name="/predict")[6]
    m = re.search(r"Server time: ([^<]*)", summary)
    return m.group(1).strip() if m else "?"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[min(len(sorted_values), max(1, math.ceil(q * len(sorted_values)))) - 1]


def launch(timeout: float = 300.0) -> tuple[subprocess.Popen, str, float]:
    """Start `python app.py` on a free loopback port; (process, url, seconds to the first HTTP 200)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"app.py did not answer within {timeout:.0f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m predictor.appbench", description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/", help="a running app (ignored with --launch)")
    ap.add_argument("--launch", action="store_true", help="start app.py here, time its startup, stop it at the end")
    ap.add_argument("--clients", type=int, default=1, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=10, help="sequential requests per client")
    ap.add_argument("--download-all", action="store_true",
                    help="count downloading all seven output files (sequentially), not just the three GIFs shown")
    args = ap.parse_args(argv)
    proc = None
    if args.launch:
        proc, url, startup = launch()
        print(f"startup: {startup:.1f} s from starting python app.py to the first HTTP 200")
    else:
        url = args.url
        if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            raise SystemExit("Only loopback servers are benchmarked.")
    try:
        first = one_client(url, 1, 0)[0]  # warm-up: the first request may still trace the model's graphs
        print(f"first request: {first:.2f} s" if isinstance(first, float) else f"first request failed: {first}")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = [r for rs in pool.map(lambda c: one_client(url, args.requests, 4 * c + 1, args.download_all),
                                            range(args.clients))
                       for r in rs]
        wall = time.perf_counter() - t0
        lat = sorted(r for r in results if isinstance(r, float))
        errors = [r for r in results if not isinstance(r, float)]
        if lat:
            what = "all 7 output files downloaded" if args.download_all else "click to the 3 GIFs fetched"
            print(f"{args.clients} client(s) x {args.requests} requests of /predict (10 seed -> 10 predicted frames, "
                  f"{what}): "
                  f"{len(lat)} ok, {len(errors)} errors; latency p50 {statistics.median(lat):.2f} s, "
                  f"p95 {percentile(lat, 0.95):.2f} s, max {lat[-1]:.2f} s; {len(lat) / wall:.2f} requests/s")
        else:
            print(f"all {len(errors)} requests failed")
        for e in errors[:3]:
            print("error:", repr(e))
        print("server-side split of one request:", server_split(url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return lat, errors


if __name__ == "__main__":
    main()
