"""Dashboard benchmark: first paint and trials-table pages at 1,000-100,000 trials on both
backends, the dashboard's peak RSS, and its extra load on a running 8-worker hunt.

Databases are filled by bulk inserts (benchmarks/_filled.py); the dashboard runs as
``orionlite dashboard`` in its own process and pages are loaded in Debian's Chromium
(Playwright). Figures are medians; the load test alternates runs with and without an open
dashboard so the machine's own drift hits both alike. Not a test: nothing is asserted.

    make bench                      # after the coordination benchmark
    make bench BENCH_ARGS=--quick   # 1,000 and 10,000 trials, a short load test
    make bench-dashboard            # this benchmark alone
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import database, pg_available
from _filled import fill

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
TABLE_QUERIES = {
    "sorted by objective, completed only, page 20": (
        "sort=objective&status=completed&page=20&per_page=50"
    ),
    "lr in [1e-3, 1e-1], sorted by momentum desc": (
        "param=lr&low=0.001&high=0.1&sort=param:momentum&desc=1"
    ),
    "text 'gelu', sorted by duration": "q=gelu&sort=duration",
}
TRIAL_SCRIPT = (
    "import os, sys, time; time.sleep(0.05); "
    "x = float(sys.argv[1].split('=')[1]); "
    "open(os.environ['ORIONLITE_RESULTS_PATH'], 'w')"
    '.write(\'[{"name": "loss", "type": "objective", "value": %f}]\' % (x * x))'
)


@contextmanager
def dashboard(url: str) -> Iterator[tuple[str, int]]:
    """A running ``orionlite dashboard`` on a free port: (address, pid)."""
    process = subprocess.Popen(
        [str(BIN / "orionlite"), "dashboard", "--storage", url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    address = ""
    deadline = time.monotonic() + 60
    while not address and time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.1)[0]:
            found = re.search(r"(http://\S+/) ", process.stdout.readline())
            address = found.group(1) if found else ""
    try:
        yield address, process.pid
    finally:
        died = process.poll()
        if died is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
        if died is not None:
            raise RuntimeError(f"orionlite dashboard died during the benchmark (status {died})")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu_s() -> float:
    """CPU seconds used so far by the Chromium processes this benchmark started (the
    browser usually runs on another machine than the hunt; here it shares this one)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        if name == "chromium":
            used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid, seconds in used.items():
        ancestor = parents.get(pid, 0)
        while ancestor > 1 and ancestor != os.getpid():
            ancestor = parents.get(ancestor, 0)
        total += seconds if ancestor == os.getpid() else 0.0
    return total


def fetch_s(address: str, path: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(address + path, timeout=60) as response:
        response.read()
    return time.perf_counter() - start


def first_paint(browser: Any, address: str, path: str, plots: bool) -> dict[str, float]:
    """First contentful paint of a page, and (experiment page) when all plots are drawn."""
    page = browser.new_page()
    start = time.perf_counter()
    page.goto(address + path, wait_until="commit")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    figures = {"first_paint_s": (fcp or 0) / 1000}
    if plots:
        for plot in ("curve", "parallel", "importance"):
            page.wait_for_selector(f"#plot-{plot} .main-svg", timeout=120_000)
        figures["plots_drawn_s"] = time.perf_counter() - start
    page.close()
    return figures


def pages(url: str, n: int, browser: Any) -> dict[str, Any]:
    with dashboard(url) as (address, pid):
        fetch_s(address, "static/dashboard.css")  # the server is up
        result: dict[str, Any] = {"trials": n}
        result["experiments"] = first_paint(browser, address, "", plots=False)
        runs = [first_paint(browser, address, "experiments/1", plots=True) for _ in range(3)]
        result["experiment"] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        sorted_page = "experiments/1?" + next(iter(TABLE_QUERIES.values()))
        result["sorted_page_first_paint_s"] = statistics.median(
            first_paint(browser, address, sorted_page, plots=False)["first_paint_s"]
            for _ in range(3)
        )
        result["table"] = {
            label: statistics.median(
                fetch_s(address, f"experiments/1/trials?{query}") for _ in range(5)
            )
            for label, query in TABLE_QUERIES.items()
        }
        result["changes_poll_s"] = statistics.median(
            fetch_s(address, "api/experiments/1/changes?since=" + _mark(address)) for _ in range(5)
        )
        result["peak_rss_mb"] = peak_rss_mb(pid)
    return result


def _mark(address: str) -> str:
    with urllib.request.urlopen(address + "api/experiments/1/changes", timeout=60) as response:
        return str(json.loads(response.read())["watermark"])


def hunt_argv(url: str, name: str, trials: int, workers: int, folder: Path) -> list[str]:
    script = folder / "trial.py"
    script.write_text(TRIAL_SCRIPT)
    return [
        str(BIN / "hunt"), "-n", name, "--storage", url, "--max-trials", str(trials),
        "--n-workers", str(workers), "--working-dir", str(folder / "runs"), "-q", "--",
        sys.executable, str(script), "--x~uniform(0, 1)",
    ]  # fmt: skip


def prepare(url: str, name: str, folder: Path) -> None:
    """The experiment with one trial, so that a page can be open on it before the timed
    hunt starts (opening a page, plotly.js parsed, is a one-off cost of a few seconds)."""
    argv = hunt_argv(url, name, 1, 1, folder)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hunt_rate(url: str, name: str, trials: int, folder: Path) -> tuple[float, float]:
    """``trials`` more trials of a prepared experiment by an 8-worker hunt: trials/s, and
    the CPU seconds the hunt and its trials used."""
    argv = hunt_argv(url, name, trials + 1, 8, folder)
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return trials / (time.perf_counter() - start), _children_cpu_s() - cpu_before


def _children_cpu_s() -> float:
    """CPU seconds of the child processes that exited so far (and of their own children
    they waited for: a hunt's workers and trials)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def load(url: str, trials: int, repeat: int, browser: Any, folder: Path) -> dict[str, Any]:
    """trials/s of an 8-worker hunt alone and with the dashboard open on its page."""
    alone, watched, busy, shares, browser_shares = [], [], [], [], []
    for i in range(repeat):
        prepare(url, f"alone{i}", folder)
        alone.append(hunt_rate(url, f"alone{i}", trials, folder)[0])
        prepare(url, f"watched{i}", folder)
        with dashboard(url) as (address, pid):
            # The experiments page, and the experiment's page once its plots are drawn.
            overview = browser.new_page()
            overview.goto(address)
            page = browser.new_page()
            page.goto(address)
            page.locator("a.experiment-link", has_text=f"watched{i}").click()
            page.wait_for_selector("#plot-curve .main-svg", timeout=120_000)
            rate_holder: list[tuple[float, float]] = []

            def run(index: int = i, into: list[tuple[float, float]] = rate_holder) -> None:
                into.append(hunt_rate(url, f"watched{index}", trials, folder))

            thread = threading.Thread(target=run)
            cpu_before, wall_before = cpu_s(pid), time.perf_counter()
            browser_before = browser_cpu_s()
            thread.start()
            while thread.is_alive():
                page.wait_for_timeout(200)  # lets the page's polling run
            thread.join()
            dashboard_cpu = cpu_s(pid) - cpu_before
            browser_shares.append(100 * (browser_cpu_s() - browser_before) / rate_holder[0][1])
            busy.append(100 * dashboard_cpu / (time.perf_counter() - wall_before))
            page.close()
            overview.close()
            watched.append(rate_holder[0][0])
            shares.append(100 * dashboard_cpu / rate_holder[0][1])
    base, with_dashboard = statistics.median(alone), statistics.median(watched)
    return {
        "trials": trials,
        "alone_trials_per_s": alone,
        "with_dashboard_trials_per_s": watched,
        # The ratio the target is about (within 5 %: at least 0.95).
        "ratio_with_to_without": with_dashboard / base,
        "change_percent": 100 * (with_dashboard - base) / base,
        # How far runs without the dashboard differ among themselves: the noise floor.
        "alone_spread_percent": 100 * (max(alone) - min(alone)) / base,
        "dashboard_cpu_percent_of_a_core": busy,
        # The dashboard's CPU time against the hunt's (workers and trials) in the same
        # window: on a machine the hunt keeps busy, about the throughput it can take away,
        # and much steadier than the throughput ratio on a shared machine.
        "dashboard_cpu_percent_of_the_hunts": shares,
        # Chromium's (two open pages), likewise.
        "browser_cpu_percent_of_the_hunts": browser_shares,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1,000 and 10,000 trials, a 96-trial load test once"
    )
    parser.add_argument("--sizes", default="", help="comma-separated trial counts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--load-trials", type=int, default=None, help="default 240 (quick 96)")
    parser.add_argument("--load-repeat", type=int, default=None, help="default 3 (quick 1)")
    parser.add_argument("--json", type=Path, help="where to write the raw figures")
    parser.add_argument("--only-load", action="store_true", help="the hunt load test only")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s] or (
        [1000, 10000] if args.quick else [1000, 10000, 100000]
    )
    if args.load_trials is None:
        args.load_trials = 96 if args.quick else 240
    if args.load_repeat is None:
        args.load_repeat = 1 if args.quick else 3
    backends = [b for b in args.backends.split(",") if b]
    if "postgresql" in backends and (why := pg_available()) is not None:
        print(f"PostgreSQL skipped: {why}", file=sys.stderr)
        backends.remove("postgresql")
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {"pages": [], "load": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for backend in backends:
            for n in [] if args.only_load else sizes:
                with database(backend, f"dash{n}") as url_of:
                    url = url_of("dashboard")
                    start = time.perf_counter()
                    fill(url, n)
                    filled_s = time.perf_counter() - start
                    figures = pages(url, n, browser)
                    figures.update(backend=backend, fill_s=filled_s)
                    results["pages"].append(figures)
                    print(json.dumps(figures), flush=True)
            if args.load_trials:
                with database(backend, "dashload") as url_of:
                    folder = Path(os.environ.get("TMPDIR", "/tmp"))
                    results["load"][backend] = load(
                        url_of("load"), args.load_trials, args.load_repeat, browser, folder
                    )
                    print(json.dumps({backend: results["load"][backend]}), flush=True)
        browser.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    _report(results)
    return 0


def _report(results: dict[str, Any]) -> None:
    print(
        "\nfirst paint (s) of: the experiments page / an experiment / its trials sorted, filtered"
        "\nbackend     trials  first paint             plots   table (3 queries, s)"
        "       poll   RSS MB"
    )
    for row in results["pages"]:
        table = " ".join(f"{value:.3f}" for value in row["table"].values())
        print(
            f"{row['backend']:<10} {row['trials']:>7}  {row['experiments']['first_paint_s']:.3f} / "
            f"{row['experiment']['first_paint_s']:.3f} / {row['sorted_page_first_paint_s']:.3f}"
            f"  {row['experiment']['plots_drawn_s']:.2f}"
            f"  {table}  {row['changes_poll_s']:.3f}  {row['peak_rss_mb']:.0f}"
        )
    for backend, row in results["load"].items():
        print(
            f"8-worker hunt on {backend}: alone {_rates(row['alone_trials_per_s'])} trials/s, with "
            f"the dashboard open {_rates(row['with_dashboard_trials_per_s'])}; the dashboard used "
            f"{_rates(row['dashboard_cpu_percent_of_a_core'])} % of a core, "
            f"{_rates(row['dashboard_cpu_percent_of_the_hunts'])} % of the CPU time the hunt used"
            f" (Chromium: {_rates(row['browser_cpu_percent_of_the_hunts'])} %)"
        )
    print()
    for line in target_lines(results):
        print(line)


def target_lines(results: dict[str, Any]) -> list[str]:
    """The issue's targets against this run's figures ("met"/"MISSED")."""
    lines = []
    for row in results["pages"]:
        if row["trials"] == max(r["trials"] for r in results["pages"]):
            slowest = max(
                row["experiments"]["first_paint_s"],
                row["experiment"]["first_paint_s"],
                row["sorted_page_first_paint_s"],
                *row["table"].values(),
            )
            lines.append(
                _target(
                    f"slowest first paint or table page at {row['trials']} trials "
                    f"({row['backend']})",
                    f"{slowest:.2f} s",
                    slowest < 1.0,
                    "under 1 s",
                )
            )
            rss = row["peak_rss_mb"]
            lines.append(
                _target(f"peak RSS ({row['backend']})", f"{rss:.0f} MB", rss < 200, "under 200 MB")
            )
    for backend, row in results["load"].items():
        ratio = row["ratio_with_to_without"]
        noise = (
            f"runs without it differ by {row['alone_spread_percent']:.1f} %"
            if len(row["alone_trials_per_s"]) > 1
            else "one run each: no estimate of the noise"
        )
        lines.append(
            _target(
                f"8-worker hunt throughput with / without the dashboard open ({backend})",
                f"{ratio:.3f} ({noise})",
                ratio >= 0.95,
                "at least 0.95",
            )
        )
        share = max(row["dashboard_cpu_percent_of_the_hunts"])
        lines.append(
            _target(
                f"the dashboard's CPU time against the hunt's, worst run ({backend})",
                f"{share:.1f} %",
                share < 5.0,
                "under 5 %",
            )
        )
    return lines


def _target(what: str, shown: str, met: bool, goal: str) -> str:
    return f"{'met' if met else 'MISSED':7s} {what}: {shown} (target {goal})"


def _rates(values: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
