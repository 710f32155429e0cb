"""
C{benchmarks/gc.py --small --online} still runs: it builds its root,
runs the collectors and an online collection, and prints its tables.
Nothing here looks at timings.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.integration.processes import tool

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPOSITORY, "benchmarks", "gc.py")


class GarbageCollectionBenchmarkSmokeTests(SynchronousTestCase):
    """
    The benchmark at its small size.
    """

    def test_small(self):
        """
        It exits 0 with one row per tool and flags; both tools find the
        same garbage without C{-m} (the root has no untagged index child
        for them to disagree on then), and txregistry keeps more with it.
        """
        directory = tempfile.mkdtemp(prefix="txregistry-bench-gc-smoke-")
        self.addCleanup(shutil.rmtree, directory, True)
        out = os.path.join(directory, "results.json")
        result = subprocess.run([sys.executable, SCRIPT, "--small", "--online", "--json", out],
                                capture_output=True, text=True, timeout=600, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        with open(out) as f:
            results = json.load(f)
        self.assertEqual(results["manifests"], 200)
        self.assertGreater(results["blobs"], 2000)
        rows = {(row["tool"], row["flags"]): row for row in results["rows"]}
        ours = rows[("txregistry", "(none)")]
        self.assertGreater(ours["blobs"], 1000)
        self.assertEqual(ours["manifests"], 0)
        self.assertIn("| txregistry | -m |", result.stdout)
        if tool("docker-registry") is not None:
            theirs = rows[("distribution 2.8", "(none)")]
            self.assertEqual((ours["marked"], ours["blobs"]), (theirs["marked"], theirs["blobs"]))
            self.assertLess(rows[("txregistry", "-m")]["manifests"],
                            rows[("distribution 2.8", "-m")]["manifests"])
        for phase in ("baseline", "during"):
            self.assertGreater(results["online"][phase]["requests"], 0)
        self.assertIn("online (deleteuntagged, delay 0s): collection", result.stdout)
        self.assertIn("| during |", result.stdout)
