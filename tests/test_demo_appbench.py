"""demo.appbench's light visitors: Gradio's public HTTP API from one httpx client, what a burst measures with them,
and a refused request surfacing as an error with the server's message."""

import asyncio
import os

import httpx
import pytest

from demo import appbench


def test_a_burst_of_light_visitors_is_served_and_timed(app_url):
    r = appbench.burst(app_url, 3, "identical")  # the three GIFs shown are fetched and checked to be GIFs
    assert (r["ok"], r["queue_full"], r["errors"]) == (3, 0, [])
    assert r["latencies"] == sorted(r["latencies"]) and all(0 < t < 120 for t in r["latencies"])
    floor = appbench.burst(app_url, 2, "trivial", fetch=False)
    assert (floor["ok"], floor["errors"]) == (2, [])
    sdk = appbench.burst(app_url, 2, "trivial", client="gradio")  # the Python SDK's visitors, as before
    assert (sdk["ok"], sdk["errors"]) == (2, [])


def _call(app_url, api, args, fetch=0):
    async def main():
        async with httpx.AsyncClient(timeout=120) as http:
            return await appbench.http_call(http, app_url, api, args, fetch)
    return asyncio.run(main())


def test_http_call_gives_the_pages_outputs(app_url):
    out = _call(app_url, "predict", ("example", 3, 0, 10, 10, "free-running", "default", None, None), fetch=3)
    assert len(out) == 8  # truth, prediction, panel, strip, two plots, summary, downloads
    assert all(o["url"].endswith(".gif") for o in out[:3]) and "Server time" in out[6]
    assert sorted(d["url"].rsplit(".", 1)[1] for d in out[7]) == ["gif", "mp4", "npy"]


def test_a_refused_request_raises_with_the_servers_message(app_url):
    with pytest.raises(RuntimeError, match=r"^/predict failed: Value 999 is greater than maximum value 60\.$"):
        _call(app_url, "predict", ("example", 0, 0, 10, 999, "free-running", "default", None, None))


@pytest.mark.slow  # loads the default model in this process
def test_cpu_burst_counts_the_apps_own_work(monkeypatch):
    from demo import actions, page

    published = []  # (Gradio's cache folder then, the outputs) of each result published
    real = page.in_gradio_cache
    monkeypatch.setattr(page, "in_gradio_cache",
                        lambda outputs: published.append((os.environ["GRADIO_TEMP_DIR"], outputs)) or real(outputs))
    publish, gradio_dir = actions.RESULTS.publish, os.environ.get("GRADIO_TEMP_DIR")
    r = appbench.cpu_burst(2, warm="one")  # the whole warm-up runs in the app server the app tests start
    # every fresh result was published as the app publishes it, into a folder of its own, removed after; the
    # caller's settings are back
    assert len(published) == 2 and all(folder != gradio_dir and not os.path.exists(folder) for folder, _ in published)
    assert actions.RESULTS.publish is publish and os.environ.get("GRADIO_TEMP_DIR") == gradio_dir
    assert r["cpu_s"] > 0 and r["per_request_ms"] == pytest.approx(1000 * r["cpu_s"] / 2)
    assert 1 <= r["batches"] <= 2  # two fresh sequences at once: one batch, or two if the second came late


@pytest.mark.slow  # loads the default model in this process
def test_cpu_outputs_times_a_fresh_requests_work_besides_the_model(monkeypatch):
    from demo import page

    published = []
    real = page.in_gradio_cache
    monkeypatch.setattr(page, "in_gradio_cache", lambda outputs: published.append(outputs) or real(outputs))
    r = appbench.cpu_outputs(2)
    assert r["per_request_ms"] > 0
    # a warm-up and the two timed requests, each with every output the page shows, published as the app does
    assert len(published) == 3 and all(len(out) == 8 and out[2].endswith("-panel.gif") for out in published)
    assert published[1][0] != published[2][0]  # fresh files for each request, not a cached result
