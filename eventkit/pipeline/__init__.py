"""Conversion pipelines: a dataset described as shard tasks, run serially or on Dask.

>>> report = convert("synthetic-gestures", frames=16, split_by="number")
>>> report.store, report.complete
"""

from __future__ import annotations

from .convert import ConversionReport, convert
from .executors import EXECUTORS, get_executor
from .plan import Failure, ShardResult, ShardTask
from .spec import FrameSpec

__all__ = ["EXECUTORS", "ConversionReport", "Failure", "FrameSpec", "ShardResult", "ShardTask", "convert", "get_executor"]
