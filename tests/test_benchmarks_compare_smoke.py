"""
C{benchmarks/compare.py} still runs: C{--small}, as a subprocess against
real txregistry and Distribution servers.  Nothing here looks at timings;
the parsing of C{wrk}'s report and the summary arithmetic are checked on
fixed inputs.
"""

import functools
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.benchmark_scripts import load_script, script_path

COMPARE = script_path("compare")
#: What the record file holds before the run appends to it.
RECORD_HEAD = "# Benchmarks\n\nEarlier sections.\n"


@functools.cache
def run_compare():
    """
    Run C{compare.py --small --workers 2 --skopeo-copies 2 --json OUT --record FILE} once
    for all the tests that look at it (two txregistry processes, so that the
    figures summed over a family of processes are exercised too).

    @return: the L{subprocess.CompletedProcess}, the JSON results (or
        C{None}), the record file's text, and the scratch directory's path.
    """
    directory = tempfile.mkdtemp(prefix="txregistry-compare-smoke-")
    try:
        json_path = os.path.join(directory, "results.json")
        record_path = os.path.join(directory, "benchmarks.md")
        with open(record_path, "w") as f:
            f.write(RECORD_HEAD)
        result = subprocess.run(
            [sys.executable, COMPARE, "--small", "--workers", "2", "--skopeo-copies", "2",
             "--json", json_path, "--record", record_path],
            check=False,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        results = None
        if os.path.exists(json_path):
            with open(json_path) as f:
                results = json.load(f)
        with open(record_path) as f:
            recorded = f.read()
        return result, results, recorded, directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def require_tools():
    """
    @raise SkipTest: C{docker-registry} or C{wrk} is not installed.
    """
    for name in ("docker-registry", "wrk"):
        if shutil.which(name) is None:
            raise SkipTest(f"{name} is not installed")


class CompareSmokeTests(SynchronousTestCase):
    """
    C{compare.py --small} measures every figure on both servers, prints the
    table, writes the JSON and appends a record.
    """

    def setUp(self):
        require_tools()
        self.result, self.results, self.recorded, self.directory = run_compare()
        self.compare = load_script("compare")

    def test_exit_status(self):
        """
        Everything was measured: the script exits 0.
        """
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)

    def test_table(self):
        """
        The table has its header and one row per figure, each with a value
        for both servers and, except where Distribution's value is zero, a
        ratio.
        """
        lines = self.result.stdout.splitlines()
        header = [index for index, line in enumerate(lines) if line.startswith("| figure |")]
        self.assertEqual(len(header), 1, self.result.stdout)
        self.assertIn("| txregistry | Distribution", lines[header[0]])
        table = []
        for line in lines[header[0]:]:
            if not line.startswith("|"):
                break
            table.append(line)
        for figure in self.compare.FIGURES:
            rows = [line for line in table if line.startswith(f"| {figure.label} |")]
            self.assertEqual(len(rows), 1, (figure.label, self.result.stdout))
            cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
            self.assertNotEqual(cells[2], "–", rows[0])
            self.assertNotEqual(cells[3], "–", rows[0])

    def test_json(self):
        """
        C{--json} holds one positive value per figure, run and server, and
        a summary whose ratio is the median of the per-run ratios.
        """
        results = self.results
        self.assertIsNotNone(results, self.result.stderr)
        self.assertEqual(results["runs"], 1)
        self.assertEqual(results["repositories"], 100)
        self.assertEqual(results["workers"], 2)
        for server in ("txregistry", "distribution"):
            for key in self.compare.FIGURE_KEYS:
                values = results["results"][server][key]
                self.assertEqual(len(values), 1, (server, key))
                if key != "push_peak_rss_growth":
                    self.assertGreater(values[0], 0, (server, key))
        for row in results["summary"]:
            mine = results["results"]["txregistry"][row["figure"]][0]
            theirs = results["results"]["distribution"][row["figure"]][0]
            if theirs and row["figure"] != "push_peak_rss_growth":
                self.assertAlmostEqual(row["ratio"], mine / theirs)
        copies = results["details"]["txregistry"]["skopeo"][0]["copies"]
        self.assertEqual(len(copies), 2)
        self.assertGreater(copies[0]["push"]["server_cpu_seconds"], 0)
        self.assertEqual(results["results"]["txregistry"]["skopeo_pull"][0],
                         statistics.median(copy["pull"]["seconds"] for copy in copies))
        self.assertGreaterEqual(
            results["details"]["txregistry"]["requests_memory"][0]["requests"], 2000)

    def test_record(self):
        """
        C{--record} appends a dated section with the machine's description,
        the command and the table, naming no host and no local path.
        """
        self.assertTrue(self.recorded.startswith(RECORD_HEAD), self.recorded[:200])
        added = self.recorded[len(RECORD_HEAD):]
        self.assertRegex(added, r"\n## \d{4}-\d\d-\d\d: txregistry against Distribution")
        self.assertIn("CPUs", added)
        self.assertIn("`python benchmarks/compare.py --small --workers 2 --skopeo-copies 2`", added)
        self.assertIn("txregistry http.workers 2", added)
        self.assertIn("| monolithic push | MiB/s |", added)
        self.assertIn("| disk: write + fdatasync | MiB/s |", added)
        self.assertIn("| disk: write + fdatasync, before the chunked push | MiB/s |", added)
        self.assertIn("| push, share of the disk figure |", added)
        self.assertNotIn(self.directory, added)
        self.assertNotIn(tempfile.gettempdir() + "/", added)
        self.assertNotRegex(added, rf"\b{re.escape(socket.gethostname())}\b")


class ParseWrkTests(SynchronousTestCase):
    """
    C{compare.parse_wrk} reads C{wrk --latency}'s report.
    """

    REPORT = """\
Running 10s test @ http://127.0.0.1:5000/v2/a/manifests/latest
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.47ms    3.12ms  62.30ms   91.00%
    Req/Sec     1.49k   120.00     1.70k    70.00%
  Latency Distribution
     50%   20.90ms
     75%   22.00ms
     90%   24.10ms
     99%    1.20s
  29731 requests in 10.01s, 21.66MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   2970.13
Transfer/sec:      2.16MB
"""

    def setUp(self):
        self.parse_wrk = load_script("compare").parse_wrk

    def test_report(self):
        """
        Totals, rate, percentiles in milliseconds whatever their unit,
        failures added up.
        """
        self.assertEqual(self.parse_wrk(self.REPORT), {
            "requests": 29731,
            "seconds": 10.01,
            "rps": 2970.13,
            "p50_ms": 20.9,
            "p99_ms": 1200.0,
            "non_2xx": 5,
            "socket_errors": 3,
        })

    def test_no_latency(self):
        """
        Without C{--latency} there are no percentiles, and a clean run has
        no failures.
        """
        report = "\n".join(line for line in self.REPORT.splitlines()
                           if "%" not in line and "errors" not in line and "Non-2xx" not in line)
        parsed = self.parse_wrk(report)
        self.assertEqual((parsed["p50_ms"], parsed["p99_ms"]), (None, None))
        self.assertEqual((parsed["non_2xx"], parsed["socket_errors"]), (0, 0))

    def test_not_a_report(self):
        """
        Output without the totals is refused.
        """
        self.assertRaises(ValueError, self.parse_wrk, "unable to connect to 127.0.0.1:1\n")


class SummaryTests(SynchronousTestCase):
    """
    C{compare.summarize}: medians, per-run ratios, targets.
    """

    def setUp(self):
        self.compare = load_script("compare")

    def summary(self, figure: str, mine: list, theirs: list) -> dict:
        rows = self.compare.summarize({"txregistry": {figure: mine},
                                       "distribution": {figure: theirs}})
        return next(row for row in rows if row["figure"] == figure)

    def test_ratio_is_median_of_run_ratios(self):
        """
        The ratio is the median of the ratios of each run, not the ratio of
        the medians; a throughput target is met at or above its bound.
        """
        row = self.summary("push_monolithic", [300, 100, 200], [100, 100, 50])
        self.assertEqual(row["ratios"], [3.0, 1.0, 4.0])
        self.assertEqual(row["ratio"], 3.0)
        self.assertEqual((row["txregistry"], row["distribution"]), (200, 100))
        self.assertIs(row["met"], True)
        self.assertIs(self.summary("push_monolithic", [299], [100])["met"], False)

    def test_time_target(self):
        """
        For times (skopeo) and latency, lower is better: met at or below.
        """
        self.assertIs(self.summary("skopeo_push", [2.0], [2.0])["met"], True)
        self.assertIs(self.summary("manifest_get_p99", [11.0], [10.0])["met"], False)

    def test_absolute_target(self):
        """
        The peak RSS growth target holds for every txregistry run, whatever
        Distribution did.
        """
        self.assertIs(self.summary("push_peak_rss_growth", [10, 63.9], [0, 0])["met"], True)
        self.assertIs(self.summary("push_peak_rss_growth", [10, 64], [100, 100])["met"], False)
        self.assertIsNone(self.summary("push_peak_rss_growth", [10], [0.1])["ratio"])

    def test_failed_measurements_left_out(self):
        """
        A failed measurement (C{None}) counts in no median and no ratio.
        """
        row = self.summary("tags_list", [None, 300.0, 100.0], [100.0, None, 100.0])
        self.assertEqual(row["ratios"], [1.0])
        self.assertEqual((row["txregistry"], row["distribution"]), (200.0, 100.0))

    def test_txregistry_alone(self):
        """
        Without Distribution there is no ratio, and a relative target is
        neither met nor missed.
        """
        rows = self.compare.summarize({"txregistry": {"pull": [500.0]}})
        row = next(row for row in rows if row["figure"] == "pull")
        self.assertEqual((row["ratio"], row["met"], row["distribution"]), (None, None, None))

    def test_disk_bounds(self):
        """
        Each push as a share of the disk figure measured just before it
        (in its own run, for its own server), and the disk figure measured
        for txregistry over Distribution's monolithic push, run by run;
        failed runs are left out.
        """
        bounds = self.compare.disk_bounds({
            "txregistry": {"disk_write": [400.0, 500.0, None],
                           "push_monolithic": [300.0, 450.0, 100.0],
                           "disk_write_chunked": [400.0, 250.0, 200.0],
                           "push_chunked": [200.0, None, 100.0]},
            "distribution": {"disk_write": [400.0, 400.0, 400.0],
                             "push_monolithic": [100.0, 200.0, 100.0],
                             "disk_write_chunked": [200.0, 200.0, 400.0],
                             "push_chunked": [100.0, 100.0, 100.0]},
        })
        self.assertEqual(bounds["shares"]["txregistry"],
                         {"push_monolithic": 0.825, "push_chunked": 0.5})
        self.assertEqual(bounds["shares"]["distribution"],
                         {"push_monolithic": 0.25, "push_chunked": 0.5})
        self.assertEqual(bounds["allowed_ratios"], [4.0, 2.5])
        self.assertEqual(bounds["allowed_ratio"], 3.25)
        text = self.compare.disk_table(bounds, "Distribution 2.8")
        self.assertIn("| monolithic push | 82% | 25% |", text)
        self.assertIn("3.25x (per run: 4.00x, 2.50x)", text)

    def test_disk_bounds_without_disk(self):
        """
        Without the monolithic push there is no disk figure and no table.
        """
        bounds = self.compare.disk_bounds({"txregistry": {"tags_list": [1.0]}})
        self.assertIsNone(bounds["allowed_ratio"])
        self.assertEqual(self.compare.disk_table(bounds, "Distribution"), "")

    def test_public_arguments(self):
        """
        The recorded command leaves out the options naming local files.
        """
        self.assertEqual(
            self.compare.public_arguments(
                ["--runs", "3", "--json", "/tmp/x.json", "--record=docs/benchmarks.md",
                 "--keep", "--small"]),
            ["--runs", "3", "--small"])
