"""bench/moderation_rules.py runs as its docs say (it once failed at import: the rule compiler's messages are
translatable and need the settings loaded first). A small run; the figure itself is docs/benchmarks.md's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_rule_throughput_benchmark_runs_from_a_shell(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMUNA_", "DJANGO_"))}
    env["COMMUNA_DATA_DIR"] = str(tmp_path)
    small = ["--rules", "20", "--messages", "300", "--warmup", "50", "--core", "-1"]
    done = subprocess.run(
        [sys.executable, "bench/moderation_rules.py", *small],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "messages/second of CPU time on one core" in done.stdout
    assert "ratio to the 5,000 messages/second target" in done.stdout
