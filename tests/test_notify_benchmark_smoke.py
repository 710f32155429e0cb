"""
C{benchmarks/notify_slow_receiver.py} still runs: a small run of every
setup, as a subprocess against real servers and receivers.  Nothing here
looks at timings.
"""

import functools
import os

from twisted.trial.unittest import SynchronousTestCase

from tests.test_benchmarks_smoke import run_benchmark

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPOSITORY, "benchmarks", "notify_slow_receiver.py")
SETUPS = ["none", "fast", "slow", "slow-fsync"]


@functools.cache
def run_small():
    """
    Run the script once at a small size with every setup, for all the
    tests that look at it.
    """
    return run_benchmark(
        SCRIPT, "--trials", "2", "--images", "3", "--layers", "1", "--size", "32KiB",
        "--clients", "2", "--delay", "0.2", "--setups", ",".join(SETUPS),
    )


class SlowReceiverSmokeTests(SynchronousTestCase):
    """
    The script pushes and pulls through every setup and reports.
    """

    def setUp(self):
        self.result, self.results = run_small()

    def test_exit(self):
        """
        Without C{--check}, a run that worked exits 0.
        """
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)

    def test_table(self):
        """
        One row per setup, and the verdict.
        """
        lines = self.result.stdout.splitlines()
        for setup in SETUPS:
            self.assertEqual(len([line for line in lines if line.startswith(f"| {setup} |")]),
                             1, self.result.stdout)
        self.assertTrue(any(line.startswith("| setup | push s | push MiB/s |") for line in lines),
                        self.result.stdout)
        self.assertTrue(any(line.startswith("slow receiver within 5% of no endpoint: ")
                            for line in lines), self.result.stdout)

    def test_events(self):
        """
        Every push and pull of a setup with an endpoint was spooled: three
        times (a warm-up and two trials) 3 images of 2 blobs and a manifest
        pushed (9), pulled (9); the fast receiver got them all.
        """
        self.assertIsNotNone(self.results, self.result.stderr)
        rows = {row["setup"]: row for row in self.results["rows"]}
        self.assertEqual(sorted(rows), sorted(SETUPS))
        self.assertEqual(rows["none"]["events"], 0)
        for setup in SETUPS[1:]:
            self.assertEqual(rows[setup]["events"], 54)
            self.assertLessEqual(rows[setup]["delivered"], 54)
            self.assertEqual(len(rows[setup]["trials"]), 2)
            self.assertGreater(rows[setup]["push_ratio"]["total"], 0)
        self.assertEqual(rows["fast"]["delivered"], 54)


class SpoolAppendSmokeTests(SynchronousTestCase):
    """
    C{benchmarks/notify_spool_append.py} runs and reports every
    measurement.
    """

    def test_run(self):
        """
        A small run exits 0 and gives a row per measurement.
        """
        result, results = run_benchmark(
            os.path.join(REPOSITORY, "benchmarks", "notify_spool_append.py"),
            "--count", "20", "--together", "20", "--repeat", "2",
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIsNotNone(results, result.stderr)
        self.assertEqual([(row["what"], row["fsync"]) for row in results["rows"]], [
            ("emit, no endpoint (CPU)", "-"), ("emit (CPU)", "-"),
            ("append, one at a time", "off"), ("append, 20 at once, each", "off"),
            ("append, one at a time", "on"), ("append, 20 at once, each", "on"),
        ])
        for row in results["rows"]:
            self.assertGreater(row["microseconds"], 0)
