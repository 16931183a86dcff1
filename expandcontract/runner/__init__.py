"""The safe statement runner: the one place where ec executes DDL and DML."""

from expandcontract.runner.policy import RetryPolicy
from expandcontract.runner.runner import SafeRunner, Step, connect

__all__ = ["RetryPolicy", "SafeRunner", "Step", "connect"]
