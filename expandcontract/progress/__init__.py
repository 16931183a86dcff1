"""Progress of migration commands, from the engine's event stream: views for a terminal,
for logs and as JSON lines (see views.py); the sentences and numbers they show (model.py)."""

from expandcontract.progress.model import Change, Narrator
from expandcontract.progress.views import JsonLinesView, PlainView, TerminalView

__all__ = ["Change", "JsonLinesView", "Narrator", "PlainView", "TerminalView"]
