"""Click-to-GIFs latency and a bounded load test of the running app, from real clients: `gradio_client`s, and for
a burst, visitors speaking Gradio's HTTP API from one `httpx` client (`--client gradio`: one `gradio_client` each).

    python -m demo.appbench --launch                              # start app.py, time its startup, 10 requests
    python -m demo.appbench --launch --clients 8 --requests 4     # bounded load test: 8 clients x 4 requests
    python -m demo.appbench --url http://127.0.0.1:7860/          # an app that is already running
    python -m demo.appbench --launch --burst 40                   # 40 clients click at the same moment
    python -m demo.appbench --launch --burst 40 --burst-inputs varied     # ... each on a new random sequence
    python -m demo.appbench --launch --burst 40 --burst-inputs identical  # ... all on the same example
    (each burst is followed by the same burst of a trivial request: the floor Gradio's queue and the clients add;
    a burst's visitors speak Gradio's HTTP API from one httpx client, `--client gradio`: one gradio_client each)
    python -m demo.appbench --launch --soak 500 --clients 4       # 500 mixed requests, server memory sampled
    python -m demo.appbench --cpu-burst 40                        # 40 fresh predictions in-process: CPU seconds
    python -m demo.appbench --cpu-outputs 60                      # ... their work besides the model: CPU ms each

Each request is the app's main action, `/predict`: 10 context frames -> 10 predicted frames of a bundled
example, every output built (GIFs, frame strip, metrics, .npy/.gif/.mp4); the latency runs from the click
until the result has arrived and the three GIFs the page shows are fetched, in parallel as a browser does
(`--download-all`: until gradio_client has downloaded all seven files, one after the other). Prints
p50/p95/max latency, throughput and errors, the server-side split of one request (model / files /
metrics, from the app's own summary), and with `--launch` the startup time: from starting `python app.py`
to its first HTTP 200. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# What one click sends for each action, and how many of its outputs are GIFs the page shows (fetched first).
ACTIONS = {
    "predict": (lambda i: ("example", i % 32, 0, 10, 10, "free-running", "default"), 3),
    "compare": (lambda i: ("example", i % 32, 0, 10, 10, "default", (bundled_names() + ["default"])[1]), 1),
    "inspect": (lambda i: ("example", i % 32, 0, 10, 10, "default"), 1),
}


def bundled_names() -> list[str]:
    from predictor import bundled_models

    return bundled_models()


def one_client(url: str, requests: int, offset: int, download_all: bool = False,
               action: str = "predict") -> list[float | Exception]:
    """Latencies in seconds (or the exception) of `requests` sequential clicks from one client.

    A click is `/predict` (or `action`: `/compare`, `/inspect`, 10 seed -> 10 predicted frames) until its result
    arrives, then the GIFs the page shows (three for predict, one for the others) fetched in parallel, as a
    browser does. With `download_all`, gradio_client instead downloads all output files one after the other.
    """
    import httpx
    from gradio_client import Client

    client, out = Client(url, verbose=False, download_files=download_all), []
    with httpx.Client(timeout=60) as http, ThreadPoolExecutor(3) as pool:
        for i in range(requests):
            t0 = time.perf_counter()
            try:
                args, shown = ACTIONS[action]
                res = client.predict(*args(offset + i), api_name=f"/{action}")
                if not download_all:
                    gifs = [r["url"] for r in res[:shown]]
                    for r in pool.map(http.get, gifs):
                        r.raise_for_status()
                        if not r.content.startswith(b"GIF8"):
                            raise RuntimeError(f"not a GIF: {r.url}")
                out.append(time.perf_counter() - t0)
            except Exception as e:  # counted and reported, never hidden
                out.append(e)
    return out


def server_rss_mb(proc) -> float | None:
    """Resident memory of the launched server (MB), from /proc; None when not launched here."""
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (AttributeError, OSError, StopIteration):
        return None


_FRESH = 1_000_000 + 1000 * random.randrange(1_000_000)  # random seeds no earlier run asked for (below 2**32)
BURSTS = {  # what the i-th client of a burst asks for
    "examples": lambda i: ("example", i % 32, 0, 10, 10, "free-running", "default"),  # the 32 bundled examples
    "varied": lambda i: ("random", 0, _FRESH + i, 10, 10, "free-running", "default"),  # each a new sequence
    "trivial": lambda i: ("default", "", "default"),  # /load_model of the model in use: the queue's own cost
    "identical": lambda i: ("example", 3, 0, 10, 10, "free-running", "default"),  # everyone presses one example
}


class QueueFull(RuntimeError):
    """The server refused a request because its queue is full (HTTP 503)."""


async def http_call(http, url: str, api_name: str, args, fetch: int = 0) -> list:
    """One request through Gradio's public HTTP API, as `curl` or any HTTP client makes it: `POST
    <url>gradio_api/call/<api_name>` with the arguments (`{"data": [...]}`), which answers an event id, then `GET
    <url>gradio_api/call/<api_name>/<event_id>`, a server-sent event stream, read until its `complete` event, whose
    data is the outputs (files as dicts with a "url"). Then, with `fetch`, the first `fetch` outputs (the GIFs the
    page shows) are fetched in parallel, as a browser loads them, and checked to be GIFs.

    `http` is an `httpx.AsyncClient` (shared by every simulated visitor: one process, one connection pool, like the
    browsers of a crowd rather than 40 Python SDK clients). Raises QueueFull when the queue is full, RuntimeError
    with the server's message on an `error` event."""
    import asyncio
    import json

    r = await http.post(f"{url}gradio_api/call/{api_name}", json={"data": list(args)})
    if r.status_code == 503:
        raise QueueFull(f"queue is full: {r.text}")
    r.raise_for_status()
    event_id, event, outputs = r.json()["event_id"], None, None
    async with http.stream("GET", f"{url}gradio_api/call/{api_name}/{event_id}") as stream:
        stream.raise_for_status()
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:])
                if event == "error":  # a gr.Error's data is {"error": message, "title": ...}; others may be null
                    raise RuntimeError(f"/{api_name} failed: " + str(data.get("error") if isinstance(data, dict)
                                                                       else data))
                outputs = data
                break
    if outputs is None:
        raise RuntimeError(f"/{api_name}: the event stream ended without a result")
    for got in await asyncio.gather(*(http.get(o["url"]) for o in outputs[:fetch])):
        got.raise_for_status()
        if not got.content.startswith(b"GIF8"):
            raise RuntimeError(f"not a GIF: {got.url}")
    return outputs


# /predict's inputs on the page: the seven settings, then the uploaded clip and the made sequence (unused here).
PREDICT_EXTRA = (None, None)


def burst(url: str, clients: int, mode: str = "examples", client: str = "http", fetch: bool = True) -> dict:
    """`clients` visitors send one `/predict` each at the same moment (what each sends: `BURSTS[mode]`); latencies,
    queue-full answers, errors. "varied" asks for sequences no earlier run made (random seeds from 1,000,000, a
    fresh block of 1000 per run), so no result can come from the app's result cache; "identical" asks 40 times for
    the same one; "trivial" sends `/load_model` of the model in use (a few ms of work), the floor that Gradio's
    queue and the clients themselves put under any burst.

    `client` "http" (default): every visitor is a coroutine on one shared `httpx.AsyncClient` speaking Gradio's
    public HTTP API (`http_call`), about what a browser costs; a latency runs from the POST until the result has
    arrived and, with `fetch`, the three GIFs the page shows are loaded (a `/load_model` has none). "gradio": each
    visitor is its own `gradio_client.Client` (made before the clock starts) in its own thread, the Python SDK's
    cost on the same cores included in every latency, without fetching files (how the figures before December
    2026 were measured)."""
    if client == "gradio":
        return _tally(_burst_gradio(url, clients, mode))
    import asyncio

    import httpx

    api = "load_model" if mode == "trivial" else "predict"
    extra = () if mode == "trivial" else PREDICT_EXTRA
    shown = 0 if mode == "trivial" or not fetch else ACTIONS["predict"][1]

    async def main():
        go = asyncio.Event()
        limits = httpx.Limits(max_connections=4 * clients, max_keepalive_connections=4 * clients)
        async with httpx.AsyncClient(timeout=300, limits=limits) as http:
            async def one(i):
                await go.wait()
                t0 = time.perf_counter()
                try:
                    await http_call(http, url, api, (*BURSTS[mode](i), *extra), shown)
                    return time.perf_counter() - t0
                except Exception as e:  # counted and reported, never hidden
                    return e

            tasks = [asyncio.create_task(one(i)) for i in range(clients)]
            await asyncio.sleep(0.05)  # every visitor waiting at the gate
            go.set()
            return await asyncio.gather(*tasks)

    return _tally(asyncio.run(main()))


def _burst_gradio(url: str, clients: int, mode: str) -> list:
    import threading

    from gradio_client import Client

    gate = threading.Barrier(clients)

    def one(i):
        client = Client(url, verbose=False, download_files=False)
        gate.wait()
        t0 = time.perf_counter()
        try:
            client.predict(*BURSTS[mode](i), api_name="/load_model" if mode == "trivial" else "/predict")
            return time.perf_counter() - t0
        except Exception as e:
            return e

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


def _tally(results: list) -> dict:
    lat = sorted(r for r in results if isinstance(r, float))
    full = [r for r in results if not isinstance(r, float) and "queue is full" in str(r).lower()]
    return {"ok": len(lat), "queue_full": len(full), "errors": [r for r in results if not isinstance(r, float)
                                                                and r not in full], "latencies": lat}


# A soak cycles through these: (api_name, arguments, whether the app must refuse it with a clear error).
SOAK_MIX = (
    ("/predict", ("example", 3, 0, 10, 10, "free-running", "default"), False),
    ("/predict", ("random", 0, 17, 8, 20, "both", "default"), False),
    ("/predict", ("example", 9, 0, 10, 30, "free-running", "default"), False),
    ("/predict", ("example", 1, 0, 10, 10, "teacher-forced", "default"), False),
    ("/load_model", ("default", "", "default"), False),
    ("/predict", ("example", 0, 0, 10, 999, "free-running", "default"), True),  # horizon out of range
    ("/load_model", ("default", "hf://../etc", "default"), True),  # a path trick
)


def soak(url: str, requests: int, clients: int, proc=None) -> dict:
    """`requests` mixed requests (SOAK_MIX) from `clients` clients; counts and server memory every 50."""
    from gradio_client import Client

    memory, done = [server_rss_mb(proc)], []

    def one_client(c):
        client, out = Client(url, verbose=False, download_files=False), []
        for i in range(c, requests, clients):
            api, args, must_fail = SOAK_MIX[i % len(SOAK_MIX)]
            try:
                client.predict(*args, api_name=api)
                out.append("ok" if not must_fail else "accepted a bad request")
            except Exception as e:
                out.append("refused" if must_fail else f"error: {e!r}")
            done.append(1)
            if len(done) % 50 == 0:
                memory.append(server_rss_mb(proc))
        return out

    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(one_client, range(clients)) for r in rs]
    memory.append(server_rss_mb(proc))
    return {"ok": results.count("ok"), "refused": results.count("refused"),
            "errors": [r for r in results if r not in ("ok", "refused")], "memory_mb": memory}


@contextlib.contextmanager
def _publishing():
    """Within: every result `demo.actions.predict` computes is published to Gradio's cache as the app publishes it
    (`demo.page.in_gradio_cache`), here into a temporary folder, removed after; the caller's settings put back."""
    from demo import actions
    from demo.page import in_gradio_cache

    before = os.environ.get("GRADIO_TEMP_DIR"), actions.RESULTS.publish
    os.environ["GRADIO_TEMP_DIR"] = gradio_cache = tempfile.mkdtemp(prefix="cpu-burst-gradio-")
    actions.RESULTS.publish = in_gradio_cache  # as app.py
    try:
        yield in_gradio_cache
    finally:
        shutil.rmtree(gradio_cache, ignore_errors=True)
        actions.RESULTS.publish = before[1]
        if before[0] is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = before[0]


def cpu_burst(clients: int, warm: str = "all") -> dict:
    """`clients` fresh `/predict`s (varied: new random sequences) at once in this process, without Gradio or HTTP:
    the CPU seconds (`time.process_time`, every thread; ffmpeg's child processes not included) the app's own work
    costs, a figure far less sensitive to other load than latency. `warm` "all": `demo.actions.warm_up` first (every
    graph compiled, the first screen cached), as the app does; "one": one run of example 0 only (the warm-up before
    `Batcher.warm`). Each result is published to Gradio's cache as the app publishes it (`_publishing`). Returns
    {"cpu_s", "per_request_ms", "batches"}."""
    from predictor import runtime

    runtime.use_rollout_threads()  # as app.py, before TensorFlow starts
    with _publishing():
        return _cpu_burst(clients, warm)


def cpu_outputs(requests: int) -> dict:
    """CPU milliseconds (`time.process_time`, every thread; ffmpeg's child processes not included) of what a fresh
    `/predict` costs besides the model: `demo.run.run` (GIFs, strip, downloads, curves, table) and publishing its
    files (`_publishing`), one request after another, the default model's predictions of 8 varied sequences (and
    their best possible lines) made beforehand, untimed, and handed back by a stand-in. Without the rollout's
    batching and TensorFlow's threads it varies by a few % under load, where `cpu_burst` varies by ~15 %: a change
    of a few ms shows. Returns {"per_request_ms"}."""
    from predictor import runtime

    runtime.use_rollout_threads()  # as app.py, before TensorFlow starts
    from demo import actions
    from demo.best import best_possible
    from demo.inputs import select_frames
    from demo.models import get_predictor
    from demo.run import run

    model, cases = get_predictor("default"), []
    for i in range(8):
        seed = BURSTS["varied"](i)[2]
        ctx, truth = select_frames("random", 0, seed, None, 10, 10)
        cases.append((ctx, truth, model.predict(ctx, 10), best_possible("random", 0, seed, 10, 10)))
    stand_in = _StoredPredictions({c[0].tobytes(): c[2] for c in cases})
    with _publishing() as publish:
        def one(i):
            ctx, truth, _, best = cases[i % len(cases)]
            publish(actions.prediction_outputs(run(stand_in, ctx, truth, 10, best=lambda: best)))

        one(0)  # warm: the label caches, the encoder threads
        cpu = time.process_time()
        for i in range(requests):
            one(i)
        return {"per_request_ms": 1000 * (time.process_time() - cpu) / requests}


class _StoredPredictions:
    """A stand-in `Predictor` for `demo.batcher`: `prepare` keeps the context, `predict_prepared` hands back the
    prediction stored for it."""

    def __init__(self, by_context: dict):
        self.by_context = by_context

    def prepare(self, context):
        return context  # the batcher groups prepared contexts by their length, as it does real ones

    def predict_prepared(self, contexts, horizon):
        return [self.by_context[c.tobytes()][:horizon] for c in contexts]


def _cpu_burst(clients: int, warm: str) -> dict:

    from demo import actions
    from demo.inputs import select_frames
    from demo.models import get_predictor

    if warm == "all":
        actions.warm_up()
    else:
        ctx, truth = select_frames("example", 0, context=10, horizon=10)
        actions.run(get_predictor("default"), ctx, truth, 10)
    calls, gate = actions.MODEL.calls, threading.Barrier(clients)

    def one(i):
        gate.wait()
        actions.predict(*BURSTS["varied"](i))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu
    return {"cpu_s": cpu, "per_request_ms": 1000 * cpu / clients, "batches": actions.MODEL.calls - calls}


def server_cpu_s(proc) -> float | None:
    """CPU seconds (user + system) the launched server has used so far, from /proc; None when not launched here."""
    try:
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, IndexError, ValueError):
        return None


def wait_until_quiet(proc, quiet_s: float = 1.0, limit_s: float = 60.0) -> float | None:
    """Wait until the launched server has used under 5% of a core for `quiet_s` (its warm-up thread has traced every
    graph: the app serves requests while it warms, and a burst measured during that would pay for it); seconds
    waited, or None when not launched here (or it never goes quiet within `limit_s`)."""
    t0, last = time.perf_counter(), server_cpu_s(proc)
    while last is not None and time.perf_counter() - t0 < limit_s:
        time.sleep(quiet_s)
        now = server_cpu_s(proc)
        if now is None:  # the server has gone: the caller's next request says why
            return None
        if now - last < 0.05 * quiet_s:
            return time.perf_counter() - t0
        last = now
    return None


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
    ap = argparse.ArgumentParser(prog="python -m demo.appbench", description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/", help="a running app (ignored with --launch)")
    ap.add_argument("--launch", action="store_true", help="start app.py here, time its startup, stop it at the end")
    ap.add_argument("--clients", type=int, default=1, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=10, help="sequential requests per client")
    ap.add_argument("--action", choices=list(ACTIONS), default="predict", help="which click to time")
    ap.add_argument("--burst", type=int, metavar="N", help="instead: N clients send one /predict at the same moment")
    ap.add_argument("--burst-inputs", choices=list(BURSTS), default="examples",
                    help="what a burst asks for: the 32 examples in turn, a new random sequence each, or one example")
    ap.add_argument("--client", choices=("http", "gradio"), default="http",
                    help="a burst's visitors: coroutines on one httpx client speaking Gradio's HTTP API (about what "
                         "browsers cost), or one gradio_client.Client each (the Python SDK's own cost included)")
    ap.add_argument("--no-fetch", action="store_true",
                    help="a burst's latency ends when the result arrives, without loading the three GIFs shown")
    ap.add_argument("--cpu-burst", type=int, metavar="N",
                    help="instead: N fresh predictions at once in this process (no server): their CPU seconds")
    ap.add_argument("--warm", choices=("all", "one"), default="all",
                    help="with --cpu-burst: the app's warm-up first, or one run of example 0 (the old warm-up)")
    ap.add_argument("--cpu-outputs", type=int, metavar="N",
                    help="instead: N fresh requests' work besides the model (stored predictions), in this process: "
                         "CPU ms each")
    ap.add_argument("--soak", type=int, metavar="N", help="instead: N mixed requests from --clients clients")
    ap.add_argument("--download-all", action="store_true",
                    help="count downloading all seven output files (sequentially), not just the three GIFs shown")
    args = ap.parse_args(argv)
    if args.cpu_burst:
        r = cpu_burst(args.cpu_burst, args.warm)
        print(f"{args.cpu_burst} fresh predictions at once in-process (warm-up: {args.warm}): CPU {r['cpu_s']:.2f} s, "
              f"{r['per_request_ms']:.0f} ms each, in {r['batches']} model batches")
        return r
    if args.cpu_outputs:
        r = cpu_outputs(args.cpu_outputs)
        print(f"{args.cpu_outputs} fresh requests' work besides the model, one after another, in-process: "
              f"CPU {r['per_request_ms']:.1f} ms each")
        return r
    proc = None
    if args.launch:
        proc, url, startup = launch()
        print(f"startup: {startup:.1f} s from starting python app.py to the first HTTP 200")
    else:
        url = args.url
        if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            raise SystemExit("Only loopback servers are benchmarked.")
    try:
        first = one_client(url, 1, 0, action=args.action)[0]  # warm-up: the first request may still trace graphs
        print(f"first request: {first:.2f} s" if isinstance(first, float) else f"first request failed: {first}")
        if proc is not None:
            waited = wait_until_quiet(proc)
            print(f"then the server's warm-up: quiet after {waited:.1f} s more" if waited is not None
                  else "then the server's warm-up: not quiet within 60 s; measuring anyway")
        if args.burst or args.soak:
            return report_load(url, args, proc)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = [r for rs in pool.map(lambda c: one_client(url, args.requests, 4 * c + 1, args.download_all,
                                                                 args.action), range(args.clients))
                       for r in rs]
        wall = time.perf_counter() - t0
        lat = sorted(r for r in results if isinstance(r, float))
        errors = [r for r in results if not isinstance(r, float)]
        if lat:
            what = "all output files downloaded" if args.download_all else "click to the GIFs shown fetched"
            print(f"{args.clients} client(s) x {args.requests} requests of /{args.action} (10 seed -> 10 predicted frames, "
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


def report_load(url, args, proc) -> dict:
    """Run and print `--burst` or `--soak` (server memory only when the server was launched here)."""
    before = server_rss_mb(proc)
    if args.burst:
        fetch = not args.no_fetch and args.client == "http"
        print(f"conditions: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} (1 min) before the "
              "burst; the server, these clients and anything else running share the cores; visitors: "
              + ("one httpx client, Gradio's HTTP API (POST /gradio_api/call, then its event stream)"
                 + (", the three GIFs shown fetched" if fetch else ", no files fetched")
                 if args.client == "http" else "one gradio_client.Client each, no files fetched"))
        results = {}
        for mode in dict.fromkeys((args.burst_inputs, "trivial")):  # the burst asked for, then its floor
            cpu, mine = server_cpu_s(proc), time.process_time()
            r = results[mode] = burst(url, args.burst, mode, args.client, fetch)
            cpu, mine = server_cpu_s(proc) - cpu if cpu is not None else None, time.process_time() - mine
            lat = r["latencies"]
            what = "/load_model (trivial: the floor)" if mode == "trivial" else f"/predict ({mode})"
            print(f"burst of {args.burst} simultaneous {what}: {r['ok']} served, {r['queue_full']} told the queue is "
                  f"full, {len(r['errors'])} other errors"
                  + (f"; latency p50 {statistics.median(lat):.2f} s, p95 {percentile(lat, 0.95):.2f} s, "
                     f"max {lat[-1]:.2f} s" if lat else "")
                  + (f"; server CPU {cpu:.2f} s" if cpu is not None else "")
                  + f"; the visitors' own CPU {mine:.1f} s"
                  + f"; load average after {os.getloadavg()[0]:.1f}")
        r = results[args.burst_inputs]
    else:
        r = soak(url, args.soak, args.clients, proc)
        print(f"soak of {args.soak} mixed requests from {args.clients} clients: {r['ok']} ok, {r['refused']} bad "
              f"requests refused with a clear error (as they must be), {len(r['errors'])} unexpected")
        if proc is not None:
            print("server memory (MB) every 50 requests: " + " ".join(f"{m:.0f}" for m in r["memory_mb"] if m))
    for e in r["errors"][:3]:
        print("error:", e if isinstance(e, str) else repr(e))
    if proc is not None:
        print(f"server memory: {before:.0f} MB before, {server_rss_mb(proc):.0f} MB after")
    return r


if __name__ == "__main__":
    main()
