"""``--since REF``: the files changed since a git ref (committed, staged, unstaged, untracked)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from expandcontract.errors import ConfigError


def changed_files(ref: str, cwd: Path | None = None) -> set[Path]:
    cwd = cwd or Path.cwd()

    def git(*args: str) -> list[str]:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
            )
        except FileNotFoundError as exc:
            raise ConfigError("--since needs git on PATH") from exc
        except subprocess.CalledProcessError as exc:
            raise ConfigError(
                f"--since {ref}: {exc.stderr.strip() or 'git failed'}",
                "is the ref fetched? (CI: fetch-depth: 0)",
            ) from exc
        return [line for line in proc.stdout.splitlines() if line]

    top = Path(git("rev-parse", "--show-toplevel")[0])
    names = git("diff", "--name-only", "--diff-filter=ACMR", ref, "--")
    names += git("ls-files", "--others", "--exclude-standard")
    return {(top / n).resolve() for n in names}
