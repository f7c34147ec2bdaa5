"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_npy(path):
    raise NotImplementedError


def read_npz(path):
    raise NotImplementedError


NPY_FORMAT = EventFormat(name="npy", title="npy", read=read_npy, suffixes=())
NPZ_FORMAT = EventFormat(name="npz", title="npz", read=read_npz, suffixes=())
