"""Assemble the real-world migration corpus that bench/lint.py and bench/lint_compare.py measure.

    .venv/bin/python bench/corpus/build.py --out /work/corpus/realworld [--mirror /work/.mirror]

Every project in manifest.json is read at its pinned commit, from a local bare mirror
(``<mirror>/<owner>+<name>/repo``) when one is given, else from a shallow ``git fetch`` of the
GitHub URL. Files keep their path inside the repository under one folder per project
(``<out>/<project>/<path>``), because migration tools are recognised from names and folders
(``up.sql``/``down.sql``, ``migration.sql``, ``V1__x.sql``, ``deploy/``). Nothing third-party
is committed to this repository: the manifest holds repo, commit, globs and licence only.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = Path(__file__).with_name("manifest.json")


@dataclass(frozen=True)
class Project:
    name: str
    repo: str
    commit: str
    tool: str
    transaction: str  # how the tool runs a file: a key of lint_compare.runs_in_transaction
    license: str
    permissive: bool
    include: tuple[str, ...]
    exclude: tuple[str, ...] = field(default=())

    def wants(self, path: str) -> bool:
        """fnmatch semantics: ``*`` also crosses ``/``, so ``a/*.sql`` takes nested files."""
        return any(fnmatch.fnmatchcase(path, g) for g in self.include) and not any(
            fnmatch.fnmatchcase(path, g) for g in self.exclude
        )


def load_manifest(path: Path = MANIFEST) -> list[Project]:
    data = json.loads(path.read_text())
    return [
        Project(
            name=p["name"],
            repo=p["repo"],
            commit=p["commit"],
            tool=p["tool"],
            transaction=p["transaction"],
            license=p["license"],
            permissive=bool(p["permissive"]),
            include=tuple(p["include"]),
            exclude=tuple(p.get("exclude", ())),
        )
        for p in data["projects"]
    ]


def _git(git_dir: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], input=data, capture_output=True, check=True
    ).stdout


def mirror_dir(mirror: Path, repo: str) -> Path | None:
    base = mirror / repo.replace("/", "+") / "repo"
    for candidate in (base / ".git", base):  # fetch gives a bare dir or a checkout's .git
        if (candidate / "objects").is_dir():
            return candidate
    return None


def fetch_commit(repo: str, commit: str, into: Path) -> Path:
    """A bare repository holding just ``commit`` (GitHub serves any reachable sha)."""
    subprocess.run(["git", "init", "-q", "--bare", str(into)], check=True)
    url = f"https://github.com/{repo}.git"
    subprocess.run(
        ["git", "--git-dir", str(into), "fetch", "-q", "--depth", "1", url, commit], check=True
    )
    return into


def read_files(git_dir: Path, project: Project) -> dict[str, bytes]:
    listing = _git(git_dir, "ls-tree", "-r", "-z", project.commit).split(b"\0")
    wanted: list[tuple[str, str]] = []  # (path, blob sha)
    for row in listing:
        if not row:
            continue
        meta, _, raw_path = row.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        path = raw_path.decode()
        if kind == "blob" and mode != "120000" and project.wants(path):  # no symlinks
            wanted.append((path, sha))
    # one cat-file process for the whole project instead of one `git show` per file
    batch = _git(git_dir, "cat-file", "--batch", data="".join(f"{s}\n" for _, s in wanted).encode())
    files: dict[str, bytes] = {}
    pos = 0
    for path, _ in wanted:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        files[path] = batch[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1  # content is followed by a newline
    return files


def build(out: Path, mirror: Path | None, permissive_only: bool = False) -> dict[str, int]:
    """Write every project's files under ``out/<name>/``; returns files per project."""
    counts: dict[str, int] = {}
    for project in load_manifest():
        if permissive_only and not project.permissive:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            git_dir = mirror_dir(mirror, project.repo) if mirror else None
            if git_dir is None:
                git_dir = fetch_commit(project.repo, project.commit, Path(tmp) / "repo.git")
            files = read_files(git_dir, project)
        target = out / project.name
        shutil.rmtree(target, ignore_errors=True)  # a rebuild never keeps stale files
        for path, content in files.items():
            dest = target / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(content)
        counts[project.name] = len(files)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mirror", type=Path, help="folder of bare mirrors (owner+name/repo)")
    parser.add_argument("--permissive-only", action="store_true")
    args = parser.parse_args()
    projects = {p.name: p for p in load_manifest()}
    counts = build(args.out, args.mirror, args.permissive_only)
    print(f"| {'project':<18} | {'tool':<44} | {'licence':<18} | {'files':>5} |")
    print(f"|{'-' * 20}|{'-' * 46}|{'-' * 20}|{'-' * 7}|")
    for name, n in counts.items():
        p = projects[name]
        print(f"| {name:<18} | {p.tool[:44]:<44} | {p.license[:18]:<18} | {n:>5} |")
    print(f"total: {sum(counts.values())} files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
