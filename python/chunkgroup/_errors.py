"""Exceptions raised by rings and streams (re-exported by :mod:`chunkgroup`)."""


class Stopped(Exception):
    """The ringbuffer or stream has stopped (and, for a get, is drained)."""


class Empty(Exception):
    """A non-blocking get found the ringbuffer empty."""


class Full(Exception):
    """A non-blocking put found the ringbuffer full."""


for _cls in (Stopped, Empty, Full):
    _cls.__module__ = "chunkgroup"
del _cls
