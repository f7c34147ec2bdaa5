"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_atis_bin(path):
    raise NotImplementedError("atis_bin decoder not written yet")


FORMAT = EventFormat(name="atis_bin", title="atis_bin", read=read_atis_bin, suffixes=())
