"""What a conversion computes per sample: the frame parameters, as one frozen value."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..events import EventArray, SensorSize
from ..errors import OptionError

__all__ = ["FRAME_DTYPES", "FrameSpec"]

# Integer count dtypes a frame store holds (counts saturate at the maximum); the CLI's --dtype choices.
FRAME_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32")


@dataclass(frozen=True)
class FrameSpec:
    """Frame integration parameters of a conversion (see :func:`eventkit.to_frames`).

    Exactly one of ``frames`` (fixed T, split by ``split_by``) and ``duration`` (µs per frame,
    variable T) is set. ``downsample`` is an integer factor (128 -> 32 with 4).
    """

    frames: int | None = None
    split_by: str = "number"
    duration: int | None = None
    dtype: str = "uint16"
    downsample: int | None = None
    binary: bool = False

    def __post_init__(self) -> None:
        if (self.frames is None) == (self.duration is None):
            raise OptionError("give exactly one of --frames T (frames=T) or --duration US (duration=US)")
        if self.frames is not None and self.frames < 1:
            raise OptionError(f"--frames (frames=) must be >= 1, got {self.frames}")
        if self.duration is not None and self.duration < 1:
            raise OptionError(f"--duration (duration=) must be >= 1 µs, got {self.duration}")
        if self.split_by not in ("number", "time"):
            raise OptionError(f"--split-by (split_by=) must be 'number' or 'time', got {self.split_by!r}")
        if self.downsample is not None and self.downsample < 1:
            raise OptionError(f"--downsample (downsample=) must be a positive integer factor, got {self.downsample}")
        if _dtype_name(self.dtype) not in FRAME_DTYPES:
            raise OptionError(f"--dtype (dtype=) must be one of {', '.join(FRAME_DTYPES)} (integer counts that "
                              f"saturate), got {self.dtype!r}")

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters that differ from the defaults (store attrs, name and cache key).

        Defaults are left out so the common store keeps its plain name (``frames-T16-number.zarr``);
        the dtype is recorded by the store itself and is part of its cache key either way.
        """
        d = asdict(self)
        if self.duration is not None:
            d.pop("split_by")
        defaults = {"dtype": "uint16", "binary": False, "downsample": None}
        return {k: v for k, v in d.items() if v is not None and defaults.get(k, object()) != v}

    def sensor_out(self, sensor: SensorSize) -> SensorSize:
        """Sensor of the frames after downsampling."""
        k = self.downsample or 1
        return SensorSize(math.ceil(sensor.width / k), math.ceil(sensor.height / k), sensor.polarities)

    def t_bound(self, span_us: int | None) -> int:
        """The most frames a sample whose events lie within ``span_us`` microseconds can get."""
        if self.frames is not None:
            return self.frames
        if span_us is None:
            raise ValueError("duration mode needs the span of each sample")  # a bug of the caller, not user input
        return max(1, -(-max(span_us, 0) // self.duration))

    def integrate(self, events: EventArray, sensor: SensorSize) -> np.ndarray:
        """Frames ``[T, P, H, W]`` of one sample's events."""
        from ..frames import to_frames

        kw: dict[str, Any] = {"dtype": np.dtype(self.dtype), "binary": self.binary, "downsample": self.downsample}
        if self.frames is not None:
            kw.update(frames=self.frames, split_by=self.split_by)
        else:
            kw.update(duration=self.duration)
        return to_frames(events, sensor, **kw)


def _dtype_name(dtype: Any) -> str | None:
    """The numpy name of ``dtype`` (``"uint16"`` for ``np.uint16`` too), or None if it is no dtype."""
    try:
        return np.dtype(dtype).name
    except TypeError:  # "uint3", a random object
        return None
