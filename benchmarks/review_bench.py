"""Speed and size of `animalsnd review` for 500 detections of a one-hour recording, and its page in a browser.

    python benchmarks/review_bench.py [--minutes 60] [--sr 44100] [--detections 500] [--repeats 3]
    python benchmarks/review_bench.py --screenshot demo/review/index.html docs/figures/review.png

Writes a synthetic recording (``animalsnd.synth.long_recording``, one
minute at a time) to a temporary folder, and a predictions CSV of
``--detections`` rows: one per synthetic call (4-s windows around it, with
its kind as the label) and the rest windows of background alone given a
random label, all with random confidences. Then, for FLAC and Ogg clips:

* the time to plan (read, find the recording, sample), to cut every clip
  and draw its spectrogram, and to write the page, with ``--all`` (every
  detection a card) and with the default sampling (10 top + 10 random per
  class);
* the review folder's size;
* in headless Chromium (Selenium, the page opened from disk): the time from
  navigation start until every card is in the DOM (the page's script sets
  ``document.body.dataset.ready`` when it has built them), the script's own
  build time, and first contentful paint; the median of ``--repeats`` loads.

Writes benchmarks/out/review_bench.json. ``--screenshot PAGE PNG`` instead
opens a review page, makes three decisions with the keyboard (accept,
reject, accept) and saves a screenshot of it (128 colours).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_json  # noqa: E402

from animalsnd.review import browser  # noqa: E402
from animalsnd.review.clips import ClipOptions, cut_clips, folder_bytes  # noqa: E402
from animalsnd.review.page import write_page  # noqa: E402
from animalsnd.review.plan import plan_review  # noqa: E402
from animalsnd.synth import long_recording  # noqa: E402

KINDS = ["bird", "cow", "cricket", "dog", "frog"]


def make_recording(path: Path, *, minutes: int, sr: int, seed: int = 0) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(seed)
    truth = []
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for m in range(minutes):
            y, calls = long_recording(rng, sr=sr, duration_s=60.0)
            f.write(y)
            truth += [(k, 60.0 * m + s, 60.0 * m + e) for k, s, e in calls]
    return truth


def make_predictions(path: Path, rec: Path, truth, *, n: int, seconds: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    rows = []
    for kind, s, e in truth[:n]:
        mid = (s + e) / 2
        a = max(0.0, min(seconds - 4.0, mid - 2.0))
        rows.append((str(rec), round(a, 3), round(a + 4.0, 3), kind, round(rng.uniform(0.5, 1.0), 4)))
    busy = [(s, e) for _, s, e in truth]
    while len(rows) < n:
        a = round(float(rng.uniform(0, seconds - 4.0)), 3)
        if any(s < a + 4 and a < e for s, e in busy):
            continue
        busy.append((a, a + 4.0))
        rows.append((str(rec), a, a + 4.0, KINDS[rng.integers(len(KINDS))], round(rng.uniform(0.3, 0.8), 4)))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "start_s", "end_s", "label", "confidence"])
        w.writerows(sorted(rows, key=lambda r: r[1]))
    return len(rows)


def build(pred: Path, out: Path, *, fmt: str, every: bool) -> dict:
    t0 = time.perf_counter()
    plan = plan_review(pred, every=every)
    t1 = time.perf_counter()
    opts = ClipOptions(fmt=fmt)
    clips = cut_clips(plan.cards, out, options=opts)
    t2 = time.perf_counter()
    write_page(out, plan, clips, options=opts)
    t3 = time.perf_counter()
    return dict(cards=len(plan.cards), format=fmt, every=every, plan_s=round(t1 - t0, 3),
                cut_s=round(t2 - t1, 3), page_s=round(t3 - t2, 3), total_s=round(t3 - t0, 3),
                ms_per_clip=round(1000 * (t2 - t1) / len(plan.cards), 2),
                folder_mb=round(folder_bytes(out) / 1e6, 2),
                page_kb=round((out / "index.html").stat().st_size / 1e3, 1),
                clips_mb=round(folder_bytes(out / "clips") / 1e6, 2),
                images_mb=round(folder_bytes(out / "spec") / 1e6, 2))


def render(page: Path, repeats: int) -> dict:
    d = browser.headless()
    try:
        runs = []
        for _ in range(repeats):
            d.get("about:blank")
            t0 = time.perf_counter()
            build_ms = browser.open_page(d, page)
            wall = time.perf_counter() - t0
            nav = d.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                "return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, fcp: p ? p.startTime : null,"
                " cards: document.querySelectorAll('.card').length};")
            runs.append(dict(ready_after_navigation_ms=round(nav["dcl"], 1), script_build_ms=round(build_ms, 1),
                             first_contentful_paint_ms=nav["fcp"] and round(nav["fcp"], 1),
                             load_event_ms=round(nav["load"], 1), selenium_wall_s=round(wall, 3),
                             cards=nav["cards"]))
        errors = browser.severe_logs(d)
    finally:
        d.quit()
    med = {k: statistics.median(v) for k in runs[0] if k != "cards"
           for v in [[r[k] for r in runs if r[k] is not None]] if v}
    return dict(median=med, runs=runs, console_errors=errors, cards=runs[0]["cards"])


def screenshot(page: Path, png: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    d = browser.headless(width=1360, height=820)
    try:
        browser.open_page(d, page)
        d.execute_script("localStorage.clear()")
        d.refresh()
        browser.open_page(d, page)
        ActionChains(d).send_keys("a").send_keys("r").send_keys("a").perform()
        time.sleep(0.5)
        png.parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(png))
        from PIL import Image

        Image.open(png).convert("RGB").quantize(128, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
        d.execute_script("localStorage.clear()")
    finally:
        d.quit()
    print(f"wrote {png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--detections", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="review_bench.json")
    ap.add_argument("--screenshot", nargs=2, type=Path, metavar=("PAGE", "PNG"))
    args = ap.parse_args()
    why = browser.missing()
    if args.screenshot:
        if why:
            sys.exit(f"no browser: {why}")
        screenshot(*args.screenshot)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rec = tmp / "one_hour.wav"
        t = time.perf_counter()
        truth = make_recording(rec, minutes=args.minutes, sr=args.sr)
        print(f"recording: {args.minutes} min at {args.sr} Hz, {len(truth)} calls, {time.perf_counter() - t:.0f} s")
        pred = tmp / "predictions.csv"
        n = make_predictions(pred, rec, truth, n=args.detections, seconds=60.0 * args.minutes)
        results = []
        for fmt, every in (("flac", True), ("ogg", True), ("flac", False)):
            out = tmp / f"review-{fmt}-{'all' if every else 'sampled'}"
            r = build(pred, out, fmt=fmt, every=every)
            if why is None:
                r["browser"] = render(out / "index.html", args.repeats)
            results.append(r)
            print({k: v for k, v in r.items() if k != "browser"},
                  r.get("browser", {}).get("median", f"no browser: {why}"))
    write_json(args.out, dict(minutes=args.minutes, sr=args.sr, detections=n, calls=len(truth),
                              browser=why or "headless chromium", results=results))


if __name__ == "__main__":
    main()
