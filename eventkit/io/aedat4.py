"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_aedat4(path):
    raise NotImplementedError("aedat4 decoder not written yet")


FORMAT = EventFormat(name="aedat4", title="aedat4", read=read_aedat4, suffixes=())
