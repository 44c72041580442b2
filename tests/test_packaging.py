"""What `pip install .` puts on a user's machine: the glpsearch namespace and nothing else, so
installing glpsearch never claims the global names `strategies` or `store`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_only_the_glpsearch_namespace(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: an in-tree build would reuse a stale build/ folder
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "glpsearch", "strategies", "store"):
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy
        copy(ROOT / part, source / part)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--no-index", "--wheel-dir", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("glpsearch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"glpsearch"}
    for module in ("strategies/greedy.py", "store/cache.py", "cli/search.py", "engine/core.py"):
        assert f"glpsearch/{module}" in names
