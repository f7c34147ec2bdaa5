"""PLACEHOLDER: replaced by the real decoder module."""

from ._format import EventFormat


def read_prophesee_dat(path):
    raise NotImplementedError("prophesee_dat decoder not written yet")


FORMAT = EventFormat(name="prophesee_dat", title="prophesee_dat", read=read_prophesee_dat, suffixes=())
