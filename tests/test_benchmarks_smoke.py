"""
The benchmark scripts still run: C{benchmarks/push_memory.py} at a small
size, as a subprocess against a real server.  Nothing here looks at timings.
"""

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.benchmark_scripts import REPOSITORY, load_script, script_path

PUSH_MEMORY = script_path("push_memory")


def run_benchmark(script: str, *arguments: str):
    """
    Run a benchmark script with C{arguments} and C{--json OUT}.

    @return: the L{subprocess.CompletedProcess} and the JSON results (or
        C{None} if there are none).
    """
    directory = tempfile.mkdtemp(prefix="txregistry-bench-smoke-")
    try:
        json_path = os.path.join(directory, "results.json")
        result = subprocess.run(
            [sys.executable, script, *arguments, "--json", json_path],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        results = None
        if os.path.exists(json_path):
            with open(json_path) as f:
                results = json.load(f)
        return result, results
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@functools.cache
def run_push_memory():
    """
    Run C{push_memory.py --size 8MiB --mode all --json OUT} once for all
    the tests that look at it.
    """
    return run_benchmark(PUSH_MEMORY, "--size", "8MiB", "--mode", "all")


class PushMemorySmokeTests(SynchronousTestCase):
    """
    C{push_memory.py --size 8MiB --mode all} pushes a blob in every style,
    exits 0 and prints its table.
    """

    def setUp(self):
        self.result, self.results = run_push_memory()

    def test_exit_status(self):
        """
        Every row is within the bound: the script exits 0.
        """
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)

    def test_table(self):
        """
        The table has its header and one passing push row per mode.
        """
        lines = self.result.stdout.splitlines()
        header = [line for line in lines if line.startswith("| mode |")]
        self.assertEqual(len(header), 1, self.result.stdout)
        for column in ("seconds", "MiB/s", "baseline RSS MiB", "VmHWM MiB",
                       "peak growth MiB", "result"):
            self.assertIn(column, header[0])
        for mode in ("monolithic", "chunked", "streamed"):
            rows = [line for line in lines if line.startswith(f"| {mode} | push | 8 MiB |")]
            self.assertEqual(len(rows), 1, self.result.stdout)
            self.assertTrue(rows[0].endswith("| PASS |"), rows[0])

    def test_json(self):
        """
        C{--json} writes one record per row, with the blob's digest and the
        memory figures.
        """
        results = self.results
        self.assertIsNotNone(results, self.result.stderr)
        self.assertEqual(results["size"], 8 * 1024 * 1024)
        self.assertEqual([row["mode"] for row in results["rows"]],
                         ["monolithic", "chunked", "streamed"])
        for row in results["rows"]:
            self.assertRegex(row["digest"], r"^sha256:[0-9a-f]{64}$")
            self.assertGreater(row["baseline_rss"], 0)
            self.assertGreater(row["vm_hwm"], 0)
            self.assertEqual(row["peak_growth"],
                             max(row["peak_rss_sampled"], row["vm_hwm"]) - row["baseline_rss"])
            self.assertTrue(row["passed"])


class ParseSizeTests(SynchronousTestCase):
    """
    C{push_memory.parse_size} reads the sizes the command line takes.
    """

    def setUp(self):
        self.parse_size = load_script("push_memory").parse_size

    def test_units(self):
        """
        Units are binary, with or without the C{i} and the C{B}.
        """
        self.assertEqual(self.parse_size("1GiB"), 1 << 30)
        self.assertEqual(self.parse_size("16MiB"), 16 << 20)
        self.assertEqual(self.parse_size("8M"), 8 << 20)
        self.assertEqual(self.parse_size("512KB"), 512 << 10)
        self.assertEqual(self.parse_size("1000"), 1000)

    def test_invalid(self):
        """
        Anything else is refused as an argparse type error.
        """
        for text in ("", "1.5GiB", "-1", "1TiB", "lots"):
            self.assertRaises(argparse.ArgumentTypeError, self.parse_size, text)


class AuthOverheadSmokeTests(SynchronousTestCase):
    """
    C{benchmarks/auth_overhead.py} runs every mode to the end.
    """

    def test_runs(self):
        """
        A short run of every mode succeeds and reports each one.
        """
        output = os.path.join(tempfile.mkdtemp(prefix="auth-bench-"), "out.json")
        self.addCleanup(shutil.rmtree, os.path.dirname(output), True)
        result = subprocess.run(
            [sys.executable, script_path("auth_overhead"),
             "--seconds", "0.2", "--cost", "4", "--json", output],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, PYTHONPATH=REPOSITORY))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(output) as f:
            modes = [r["mode"] for r in json.load(f)["results"]]
        self.assertEqual(modes, ["none", "htpasswd", "token"])
