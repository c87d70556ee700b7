"""Click-to-GIFs latency of a running app, measured from a real `gradio_client`, plus the server-side split.

    python app.py &                                        # then, in another shell:
    python -m predictor.appbench --url http://127.0.0.1:7860/ --requests 10
    python -m predictor.appbench --url http://127.0.0.1:7860/ --clients 8 --requests 3   # bounded load test

Each request is the app's main action: 10 seed frames -> 10 predicted frames of a bundled example, all
outputs (GIFs, strip, plot, downloads) built. Prints p50/p95/max latency and the number of errors, and the
in-process split of one request into model / files / metrics time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor


def one_client(url: str, requests: int, offset: int) -> list[float | Exception]:
    from gradio_client import Client

    client, out = Client(url, verbose=False), []
    for i in range(requests):
        t0 = time.perf_counter()
        try:
            client.predict("example", (offset + i) % 32, 0, 10, 10, "free-running", "default", api_name="/predict")
            out.append(time.perf_counter() - t0)
        except Exception as e:  # counted and reported, never hidden
            out.append(e)
    return out


def split_in_process() -> dict:
    from predictor import demo, load_predictor

    p = load_predictor()
    ctx, truth = demo.select_frames("example", 0, context=10, horizon=10)
    demo.run(p, ctx, truth, 10)  # warm-up
    return demo.run(p, ctx, truth, 10)["timings"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m predictor.appbench", description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/")
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--requests", type=int, default=10, help="per client")
    args = ap.parse_args(argv)
    if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("Only loopback servers are benchmarked.")
    one_client(args.url, 1, 0)  # warm-up request
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = [r for rs in pool.map(lambda c: one_client(args.url, args.requests, 4 * c), range(args.clients))
                   for r in rs]
    wall = time.perf_counter() - t0
    lat = sorted(r for r in results if isinstance(r, float))
    errors = [r for r in results if not isinstance(r, float)]
    if lat:
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(f"{args.clients} clients x {args.requests} requests: {len(lat)} ok, {len(errors)} errors, "
              f"p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s, "
              f"{len(lat) / wall:.2f} requests/s")
    for e in errors[:3]:
        print("error:", e)
    t = split_in_process()
    print("one request in-process: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in t.items()))
    return lat, errors


if __name__ == "__main__":
    main()
