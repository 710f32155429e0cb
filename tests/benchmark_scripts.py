"""
The scripts in C{benchmarks/}, for the tests that run or import them.
"""

import importlib.util
import os

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script_path(name: str) -> str:
    """
    The path of C{benchmarks/<name>.py}.
    """
    return os.path.join(REPOSITORY, "benchmarks", f"{name}.py")


def load_script(name: str):
    """
    Import C{benchmarks/<name>.py} (the scripts are files, not a package's
    modules).
    """
    spec = importlib.util.spec_from_file_location(name, script_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
