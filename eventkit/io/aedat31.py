"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_aedat31(path):
    raise NotImplementedError("aedat31 decoder not written yet")


FORMAT = EventFormat(name="aedat31", title="aedat31", read=read_aedat31, suffixes=())
