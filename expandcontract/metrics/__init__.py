"""Prometheus metrics of ec: the text exposition format, the HTTP endpoint, the engine-wide
registry fed by the progress events (expandcontract.observe), and the live `ec status`.

Import the submodules themselves: this package imports nothing, so the backfill engine can
use the exposition and the server without importing the engine."""
