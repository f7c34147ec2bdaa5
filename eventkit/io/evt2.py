"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_evt2(path):
    raise NotImplementedError("evt2 decoder not written yet")


FORMAT = EventFormat(name="evt2", title="evt2", read=read_evt2, suffixes=())
