"""What a conversion computes per sample, as one frozen value: a representation and its parameters.

``FrameSpec`` (count frames, the default), ``VoxelSpec`` (voxel grids), ``TimeSurfaceSpec`` (time
surfaces per window) and ``HatsSpec`` (HATS averaged time surfaces) share one interface: ``params()``
(JSON, part of the store's attrs and cache key), ``store_name()``, ``sensor_out()``, ``frames``
(fixed T or None), ``t_bound()``, ``integrate()``. :func:`make_spec` builds one from convert's options.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ..events import EventArray, SensorSize
from ..errors import OptionError

__all__ = ["FLOAT_STORE_DTYPES", "FRAME_DTYPES", "REPRESENTATIONS", "FrameSpec", "HatsSpec", "TimeSurfaceSpec",
           "VoxelSpec", "make_spec"]

# Integer count dtypes a frame store holds (counts saturate at the maximum); the CLI's --dtype choices.
FRAME_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32")
#: What a store of a float representation holds (float16 halves the bytes, ~3 significant digits).
FLOAT_STORE_DTYPES = ("float32", "float16")
#: ``--repr`` choices of ``eventkit convert``.
REPRESENTATIONS = ("frames", "voxel", "time-surface", "hats")


@dataclass(frozen=True)
class FrameSpec:
    """Frame integration parameters of a conversion (see :func:`eventkit.to_frames`).

    Exactly one of ``frames`` (fixed T, split by ``split_by``) and ``duration`` (µs per frame,
    variable T) is set. ``downsample`` is an integer factor (128 -> 32 with 4).
    """

    repr: ClassVar[str] = "frames"

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

    def store_name(self) -> str:
        """Default store folder name (``frames-T16-number.zarr``)."""
        from ..store.layout import store_name

        return store_name(self.params())

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


def _float_dtype(dtype: Any) -> str:
    name = _dtype_name(dtype)
    if name not in FLOAT_STORE_DTYPES:
        raise OptionError(f"--dtype (dtype=) must be one of {', '.join(FLOAT_STORE_DTYPES)} for a float "
                          f"representation, got {dtype!r}")
    return name


def _int_at_least(opt: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(f"{opt} must be an integer >= {minimum}, got {value!r}")


def _positive(opt: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise OptionError(f"{opt} must be a positive number, got {value!r}")


def _named(prefix: str, head: list[str], rest: dict[str, Any]) -> str:
    """``prefix-head...[-hash of rest].zarr``: readable main parameters, a hash of the others."""
    import hashlib

    from ..store.cache_key import canonical_json

    parts = [prefix, *head]
    if rest:
        parts.append(hashlib.sha256(canonical_json(rest).encode()).hexdigest()[:8])
    return "-".join(parts) + ".zarr"


@dataclass(frozen=True)
class VoxelSpec:
    """Voxel grids of ``bins`` time bins (see :func:`eventkit.to_voxel_grid`); T = ``bins``."""

    repr: ClassVar[str] = "voxel"

    bins: int
    polarity: str = "signed"
    time_norm: str = "e2vid"
    dtype: str = "float32"
    downsample: int | None = None

    def __post_init__(self) -> None:
        _int_at_least("--bins (bins=)", self.bins, 1)
        if self.polarity not in ("signed", "split"):
            raise OptionError(f"--polarity (polarity=) must be 'signed' or 'split', got {self.polarity!r}")
        if self.time_norm not in ("e2vid", "tonic"):
            raise OptionError(f"--time-norm (time_norm=) must be 'e2vid' or 'tonic', got {self.time_norm!r}")
        if self.downsample is not None:
            _int_at_least("--downsample (downsample=)", self.downsample, 1)
        object.__setattr__(self, "dtype", _float_dtype(self.dtype))

    @property
    def frames(self) -> int:
        return self.bins

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters: the representation, ``bins`` and the options that differ from the defaults."""
        d = {"repr": self.repr, "bins": self.bins, "polarity": self.polarity, "time_norm": self.time_norm,
             "downsample": self.downsample}
        defaults = {"polarity": "signed", "time_norm": "e2vid", "downsample": None}
        return {k: v for k, v in d.items() if defaults.get(k, object()) != v}

    def store_name(self) -> str:
        """``voxel-B10.zarr`` (other options add a hash)."""
        rest = {k: v for k, v in self.params().items() if k not in ("repr", "bins")}
        return _named("voxel", [f"B{self.bins}"], rest)

    def sensor_out(self, sensor: SensorSize) -> SensorSize:
        k = self.downsample or 1
        chans = 1 if self.polarity == "signed" else sensor.polarities
        return SensorSize(math.ceil(sensor.width / k), math.ceil(sensor.height / k), chans)

    def t_bound(self, span_us: int | None) -> int:
        return self.bins

    def integrate(self, events: EventArray, sensor: SensorSize) -> np.ndarray:
        from ..frames import to_voxel_grid

        return to_voxel_grid(events, sensor, bins=self.bins, polarity=self.polarity, time_norm=self.time_norm,
                             dtype=self.dtype, downsample=self.downsample)


@dataclass(frozen=True)
class TimeSurfaceSpec:
    """Time surfaces, one per window of ``dt`` µs (see :func:`eventkit.to_time_surface`); T varies."""

    repr: ClassVar[str] = "time-surface"

    tau: float
    dt: int
    dtype: str = "float32"
    downsample: int | None = None

    def __post_init__(self) -> None:
        _positive("--tau (tau=)", self.tau)
        _int_at_least("--dt (dt=)", self.dt, 1)
        if self.downsample is not None:
            _int_at_least("--downsample (downsample=)", self.downsample, 1)
        object.__setattr__(self, "tau", float(self.tau))  # 20000 and 20000.0: one cache key
        object.__setattr__(self, "dtype", _float_dtype(self.dtype))

    frames: ClassVar[None] = None

    def params(self) -> dict[str, Any]:
        d: dict[str, Any] = {"repr": self.repr, "tau": self.tau, "dt": self.dt}
        if self.downsample is not None:
            d["downsample"] = self.downsample
        return d

    def store_name(self) -> str:
        """``timesurface-dt50000-tau20000.zarr`` (a downsample adds a hash)."""
        rest = {k: v for k, v in self.params().items() if k not in ("repr", "tau", "dt")}
        return _named("timesurface", [f"dt{self.dt}", f"tau{self.tau:g}"], rest)

    def sensor_out(self, sensor: SensorSize) -> SensorSize:
        k = self.downsample or 1
        return SensorSize(math.ceil(sensor.width / k), math.ceil(sensor.height / k), sensor.polarities)

    def t_bound(self, span_us: int | None) -> int:
        """The most surfaces a sample whose events lie within ``span_us`` µs can get."""
        from ..frames.time_surface import time_surface_count

        if span_us is None:
            raise ValueError("time surfaces need the span of each sample")  # a bug of the caller, not user input
        return time_surface_count(span_us, self.dt)

    def integrate(self, events: EventArray, sensor: SensorSize) -> np.ndarray:
        from ..frames import to_time_surface

        return to_time_surface(events, sensor, tau=self.tau, dt=self.dt, dtype=self.dtype, downsample=self.downsample)


@dataclass(frozen=True)
class HatsSpec:
    """HATS averaged time surfaces, one ``[P, Hc * S, Wc * S]`` grid per sample (T = 1; see
    :func:`eventkit.to_averaged_time_surface`)."""

    repr: ClassVar[str] = "hats"

    cell_size: int = 10
    surface_size: int = 5
    time_window: int = 1000
    tau: float = 100.0
    decay: str = "exp"
    dtype: str = "float32"

    frames: ClassVar[int] = 1
    downsample: ClassVar[None] = None

    def __post_init__(self) -> None:
        _int_at_least("--cell-size (cell_size=)", self.cell_size, 1)
        _int_at_least("--surface-size (surface_size=)", self.surface_size, 1)
        if self.surface_size % 2 == 0:
            raise OptionError(f"--surface-size (surface_size=) must be odd, got {self.surface_size}")
        _int_at_least("--time-window (time_window=)", self.time_window, 0)
        _positive("--tau (tau=)", self.tau)
        if self.decay not in ("exp", "lin"):
            raise OptionError(f"--decay (decay=) must be 'exp' or 'lin', got {self.decay!r}")
        object.__setattr__(self, "tau", float(self.tau))
        object.__setattr__(self, "dtype", _float_dtype(self.dtype))

    def params(self) -> dict[str, Any]:
        return {"repr": self.repr, "cell_size": self.cell_size, "surface_size": self.surface_size,
                "time_window": self.time_window, "tau": self.tau, "decay": self.decay}

    def store_name(self) -> str:
        """``hats-c10-s5-w1000-tau100-exp.zarr``."""
        return _named("hats", [f"c{self.cell_size}", f"s{self.surface_size}", f"w{self.time_window}",
                               f"tau{self.tau:g}", self.decay], {})

    def sensor_out(self, sensor: SensorSize) -> SensorSize:
        c, s = self.cell_size, self.surface_size
        return SensorSize(math.ceil(sensor.width / c) * s, math.ceil(sensor.height / c) * s, sensor.polarities)

    def t_bound(self, span_us: int | None) -> int:
        return 1

    def integrate(self, events: EventArray, sensor: SensorSize) -> np.ndarray:
        from ..frames import to_averaged_time_surface

        return to_averaged_time_surface(events, sensor, cell_size=self.cell_size, surface_size=self.surface_size,
                                        time_window=self.time_window, tau=self.tau, decay=self.decay,
                                        dtype=self.dtype)


Spec = FrameSpec | VoxelSpec | TimeSurfaceSpec | HatsSpec

# convert()'s options of each representation (None = not given)
_OPTIONS = {
    "voxel": ("bins", "polarity", "time_norm"),
    "time-surface": ("tau", "dt"),
    "hats": ("cell_size", "surface_size", "time_window", "tau", "decay"),
}


def make_spec(representation: str = "frames", *, frames: int | None = None, split_by: str = "number",
              duration: int | None = None, dtype: str | None = None, downsample: int | None = None,
              binary: bool = False, **options: Any) -> Spec:
    """The spec of ``representation`` from convert's options, refusing options of another representation.

    ``options`` are the representation's own (``bins``, ``polarity``, ``time_norm`` for
    ``"voxel"``; ``tau``, ``dt`` for ``"time-surface"``; ``cell_size``, ``surface_size``,
    ``time_window``, ``tau``, ``decay`` for ``"hats"``); None means not given. ``dtype`` None is
    the representation's default (uint16 counts, float32 otherwise).
    """
    if representation not in REPRESENTATIONS:
        raise OptionError(f"--repr (representation=) must be one of {', '.join(REPRESENTATIONS)}, "
                          f"got {representation!r}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - {o for opts in _OPTIONS.values() for o in opts}
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")  # a caller's typo, not user input
    mine = _OPTIONS.get(representation, ())
    foreign = [k for k in given if k not in mine]
    if foreign:
        opt = foreign[0]
        raise OptionError(f"--{opt.replace('_', '-')} ({opt}=) does not apply to --repr {representation}")
    if representation == "frames":
        return FrameSpec(frames, split_by, duration, "uint16" if dtype is None else dtype, downsample, binary)
    if frames is not None or duration is not None or binary or split_by != "number":
        raise OptionError(f"--frames/--duration/--split-by/--binary are count-frame options; --repr "
                          f"{representation} takes {', '.join('--' + o.replace('_', '-') for o in mine)}")
    dt = "float32" if dtype is None else dtype
    if representation == "voxel":
        if "bins" not in given:
            raise OptionError("--repr voxel needs --bins B (bins=B), the number of time bins")
        return VoxelSpec(dtype=dt, downsample=downsample, **given)
    if representation == "time-surface":
        if "tau" not in given or "dt" not in given:
            raise OptionError("--repr time-surface needs --tau US and --dt US (tau=, dt=): the decay constant "
                              "and the window length in µs")
        return TimeSurfaceSpec(dtype=dt, downsample=downsample, **given)
    if downsample is not None:
        raise OptionError("--downsample does not apply to --repr hats; --cell-size sets the grid")
    return HatsSpec(dtype=dt, **given)
