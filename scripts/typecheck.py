"""mypy on the package in the shape it installs.

pyproject.toml installs services/<name>/ as live2d_pose.<name> (and bench/ as
live2d_pose.bench); mypy reads folders, not setuptools' package-dir, so this
lays a tree of links in that installed shape (.cache/typecheck/) and checks it,
naming each file by its path in the repository. Run by `make check`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TREE = REPO / ".cache" / "typecheck"


def package_dirs() -> dict[str, Path]:
    """Subpackage of live2d_pose -> its folder, as pyproject.toml's package-dir says."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    dirs = config["tool"]["setuptools"]["package-dir"]
    return {name.split(".", 1)[1]: REPO / folder for name, folder in dirs.items() if name.startswith("live2d_pose.")}


def lay_tree() -> dict[str, str]:
    """Link live2d_pose/ and the mapped folders into TREE; the link paths -> repository paths."""
    package = TREE / "live2d_pose"
    package.mkdir(parents=True, exist_ok=True)
    wanted = {entry.name: entry for entry in (REPO / "live2d_pose").iterdir() if entry.name != "__pycache__"}
    mapped = package_dirs()
    wanted.update(mapped)
    for link in package.iterdir():
        if link.name not in wanted or link.resolve() != wanted[link.name].resolve():
            link.unlink()
    for name, target in wanted.items():
        if not (package / name).is_symlink():
            (package / name).symlink_to(target)
    return {f"live2d_pose/{name}/": f"{folder.relative_to(REPO)}/" for name, folder in mapped.items()}


def main() -> int:
    renames = lay_tree()
    pattern = re.compile("^(" + "|".join(map(re.escape, renames)) + ")")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(TREE.parent / "mypy"),
            "-p",
            "live2d_pose",
            *sys.argv[1:],
        ],
        cwd=TREE,
        capture_output=True,
        text=True,
    )
    for line in (run.stdout + run.stderr).splitlines():
        print(pattern.sub(lambda m: renames[m.group(1)], line))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
