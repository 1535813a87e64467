"""The README's Python example runs as written (from a folder holding the example image) and
writes an overlay. Needs the default model in the cache (`icam model fetch efficientnet-lite0`,
as CI's first README command does); skipped otherwise, so that tests never download."""

import json
import re
import shutil
import subprocess
import sys

from conftest import REPO, run_cli, skip


def readme_example():
    text = (REPO / "README.md").read_text()
    section = text.split("## Python\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example(icam_bin, tmp_path):
    rows = json.loads(run_cli(icam_bin, "model", "list", "--json").stdout)
    if not any(r["name"] == "efficientnet-lite0" and r["cached"] for r in rows):
        skip("efficientnet-lite0 is not cached (icam model fetch efficientnet-lite0)")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    p = subprocess.run(
        [sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "icam-out" / "overlay.png").stat().st_size > 0
    assert "<icam.Explanation icam of" in p.stdout
    print(p.stdout)
