"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_evt3(path):
    raise NotImplementedError("evt3 decoder not written yet")


FORMAT = EventFormat(name="evt3", title="evt3", read=read_evt3, suffixes=())
