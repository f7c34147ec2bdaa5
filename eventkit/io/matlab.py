"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_matlab(path):
    raise NotImplementedError("matlab decoder not written yet")


FORMAT = EventFormat(name="matlab", title="matlab", read=read_matlab, suffixes=())
