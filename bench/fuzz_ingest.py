"""The long run of the ingest property test (issue 17): 2,000 random and damaged exports
through `tierwise ingest`, none of which may end in a Python traceback.

    python bench/fuzz_ingest.py [EXAMPLES]

(``make test`` runs the same test with a few examples.) Each example's exit status and
first error line go to ``.hypothesis/fuzz_ingest.log`` as it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    examples = sys.argv[1] if len(sys.argv) > 1 else "2000"
    log = ROOT / ".hypothesis" / "fuzz_ingest.log"  # one line per example: exit status, error
    log.parent.mkdir(exist_ok=True)
    log.write_text("")
    env = {**os.environ, "TIERWISE_FUZZ_EXAMPLES": examples, "TIERWISE_FUZZ_LOG": str(log)}
    test = ROOT / "tests" / "test_ingest_fuzz.py"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(test),
        "-q",
        "-x",
        "--hypothesis-show-statistics",
        "-s",
        "--hypothesis-verbosity=verbose",
    ]
    sys.exit(subprocess.call(command, cwd=ROOT, env=env))
