"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_aedat2(path):
    raise NotImplementedError("aedat2 decoder not written yet")


FORMAT = EventFormat(name="aedat2", title="aedat2", read=read_aedat2, suffixes=())
