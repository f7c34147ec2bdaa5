"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_hdf5(path):
    raise NotImplementedError("hdf5 decoder not written yet")


FORMAT = EventFormat(name="hdf5", title="hdf5", read=read_hdf5, suffixes=())
