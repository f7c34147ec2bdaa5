"""Static images to event streams: saccades, ODG (ES-ImageNet) and frame differencing.

Three methods, one interface (:class:`SynthMethod`): ``method.events(image, rng)`` gives events of
:data:`~eventkit.EVENT_DTYPE` sorted by ``t`` (µs) on a ``(W, H, 2)`` sensor, and
``method.frames(image, T, rng)`` gives ``[T, 2, H, W]`` counts (channel 0 OFF, 1 ON). Images are
2-D float intensities in ``[0, 1]`` (:func:`prepare_image` converts files and arrays).

========  ==========================================  ==========================================
method    what it emulates                            reference
========  ==========================================  ==========================================
saccade   a DVS (log-intensity level crossings,        Orchard et al. 2015 (N-MNIST,
          per-pixel threshold mismatch, refractory     N-Caltech101); :mod:`.saccade`,
          period, noise) watching the image move       :mod:`.dvs_pixel`
          along a path of small translations
odg       Omnidirectional Discrete Gradient: 8 fixed   Lin et al. 2021 (ES-ImageNet);
          one- and two-pixel moves, thresholded        :mod:`.odg`
          intensity differences, 8 binary frames
diff      rapid small movements, log-intensity         :mod:`.diff`
          differences counted in C-steps: T frames
========  ==========================================  ==========================================

Every method is deterministic: the same image, parameters and seed give the same events.

>>> from eventkit.synth import Saccade, ODG, FrameDiff, prepare_image
>>> img = prepare_image(rgb_uint8, 128)
>>> ev = Saccade().events(img)                 # N-MNIST-like events
>>> fr = ODG().frames(img)                     # [8, 2, 128, 128], ES-ImageNet's frames
>>> fr = FrameDiff().frames(img, 16, rng=0)   # [16, 2, 128, 128]

Whole datasets: :func:`synth_convert` (``eventkit synth IMAGES --method ... --out STORE``).
Segmentation inputs (images with class masks: ``--masks``, Pascal VOC, COCO) and the reference's
``shift-diff`` frames: :mod:`.seg_inputs`, :mod:`.shift_diff`, ``docs/segmentation.md``.
"""

from __future__ import annotations

from ._base import SynthMethod
from .convert import SynthReport, make_method, synth_convert
from .diff import FrameDiff, diff_frames
from .dvs_pixel import DVSPixelModel, emit_events, noise_events
from .images import ImageSample, ImageSet, ImageSetError, discover_images, load_image, prepare_image, to_gray
from .motion import NMNIST_SACCADES, resample_path, saccade_triangle, shift_image
from .odg import ODG, ODG_DIRECTIONS, ODG_TRACE, odg_events, odg_frames
from .saccade import Saccade, saccade_events, saccade_frames
from .shift_diff import ShiftDiff

#: Event methods (events and count frames). ``shift-diff`` (:class:`ShiftDiff`, real-valued colour
#: difference frames, no events) is built by :func:`make_method` too.
METHODS = {"saccade": Saccade, "odg": ODG, "diff": FrameDiff}

__all__ = [
    "DVSPixelModel",
    "FrameDiff",
    "ImageSample",
    "ImageSet",
    "ImageSetError",
    "METHODS",
    "NMNIST_SACCADES",
    "ODG",
    "ODG_DIRECTIONS",
    "ODG_TRACE",
    "Saccade",
    "ShiftDiff",
    "SynthMethod",
    "SynthReport",
    "diff_frames",
    "discover_images",
    "emit_events",
    "load_image",
    "make_method",
    "noise_events",
    "odg_events",
    "odg_frames",
    "prepare_image",
    "resample_path",
    "saccade_events",
    "saccade_frames",
    "saccade_triangle",
    "shift_image",
    "synth_convert",
    "to_gray",
]
