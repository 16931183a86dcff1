"""External health probe: the application's own SLO can stop the backfill. An HTTP URL
(2xx = healthy) or a shell command (exit 0 = healthy); errors and timeouts count as unhealthy."""

from __future__ import annotations

import dataclasses
import subprocess
import urllib.error
import urllib.request

from expandcontract.backfill.throttles.base import ProbeContext, Reading
from expandcontract.dsn import mask_dsn


@dataclasses.dataclass
class HealthUrl:
    url: str
    timeout_s: float = 5.0
    name: str = "health"

    def read(self, ctx: ProbeContext) -> Reading:
        where = mask_dsn(self.url)
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
        except (OSError, ValueError) as exc:
            return Reading.stop(f"health probe {where} failed: {exc}")
        if 200 <= status < 300:
            return Reading.ok(f"health probe {where}: HTTP {status}", status)
        return Reading.stop(f"health probe {where}: HTTP {status}", status)


@dataclasses.dataclass
class HealthCommand:
    command: str
    timeout_s: float = 5.0
    name: str = "health"

    def read(self, ctx: ProbeContext) -> Reading:
        try:
            done = subprocess.run(
                self.command,
                shell=True,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Reading.stop(f"health command timed out after {self.timeout_s:g}s")
        if done.returncode == 0:
            return Reading.ok("health command ok", 0)
        output = (done.stdout + done.stderr).strip().splitlines()
        tail = f": {output[-1][:200]}" if output else ""
        return Reading.stop(
            f"health command exited {done.returncode}{tail}", float(done.returncode)
        )
