"""A small SPEAD sender (the library's Go sender), for tests, demos and
benchmarks: encode heaps to bytes, or send them over UDP or TCP.

Heaps have a heap counter, immediate items (``{item_id: value}`` or
``[(item_id, value), ...]``) and a payload.  The heap counter, heap length,
payload offset and payload length items are added by the encoder; with
``repeat_pointers=True`` (the default here, because chunk receivers need it)
the immediate items are repeated in every packet.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _ffi
from ._ffi import ffi, lib

__all__ = ["encode_heap", "encode_stop", "UdpSender", "TcpSender", "Items"]

Items = Union[Mapping[int, int], Iterable[Tuple[int, int]]]


def _config(
    addr_bits: int = 48,
    max_packet_size: int = 1472,
    packet_payload: int = 0,
    repeat_pointers: bool = True,
    rate: float = 0.0,
    interface_address: Optional[str] = None,
    ttl: int = 0,
    buffer_size: int = 0,
) -> Tuple[Any, Any]:
    if addr_bits not in (40, 48):
        raise ValueError("addr_bits must be 40 or 48")
    if max_packet_size < 0 or packet_payload < 0 or rate < 0 or ttl < 0 or buffer_size < 0:
        raise ValueError("sizes, rate and ttl must be non-negative")
    c = ffi.new("cg_sender_config *")
    c.size = ffi.sizeof("cg_sender_config")  # the growable-struct convention
    c.addr_bits = addr_bits
    c.max_packet_size = max_packet_size
    c.packet_payload = packet_payload
    c.repeat_pointers = int(bool(repeat_pointers))
    c.rate = float(rate)
    iface = ffi.new("char[]", interface_address.encode()) if interface_address else ffi.NULL
    c.interface_address = iface
    c.ttl = ttl
    c.buffer_size = buffer_size
    return c, iface


def _items(items: Optional[Items]) -> Tuple[Any, int]:
    if items is None:
        pairs: Sequence[Tuple[int, int]] = []
    elif isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = [tuple(p) for p in items]  # type: ignore[misc]
    arr = ffi.new("cg_item[]", max(1, len(pairs)))
    for i, (item_id, value) in enumerate(pairs):
        if item_id < 0 or value < 0:
            raise ValueError("item IDs and values must be non-negative")
        arr[i].id = item_id
        arr[i].value = value
    return arr, len(pairs)


def _payload(payload: Any) -> Tuple[Any, int]:
    if payload is None:
        return ffi.NULL, 0
    view = ffi.from_buffer("uint8_t[]", payload)
    return view, len(view)


def _encode(fn: Any, *args: Any) -> bytes:
    size = ffi.new("size_t *")
    cap = 4096
    while True:
        out = ffi.new("uint8_t[]", cap)
        st = fn(*args, out, cap, size)
        if st == lib.CG_OK:
            return bytes(ffi.buffer(out, size[0]))
        if st != lib.CG_EFULL or size[0] <= cap:
            _ffi.check(st)
            raise RuntimeError("encoder asked for no more space but failed")
        cap = size[0]


def encode_heap(
    cnt: int,
    items: Optional[Items] = None,
    payload: Any = b"",
    *,
    addr_bits: int = 48,
    max_packet_size: int = 1472,
    packet_payload: int = 0,
    repeat_pointers: bool = True,
) -> bytes:
    """Encode one heap as SPEAD packets back to back (the input format of
    ``add_buffer_reader``)."""
    cfg, _keep = _config(addr_bits, max_packet_size, packet_payload, repeat_pointers)
    arr, n = _items(items)
    pay, plen = _payload(payload)
    return _encode(lib.cg_encode_heap, cfg, cnt, arr, n, pay, plen)


def encode_stop(cnt: int, *, addr_bits: int = 48, max_packet_size: int = 1472) -> bytes:
    """Encode a stream-stop heap."""
    cfg, _keep = _config(addr_bits, max_packet_size)
    return _encode(lib.cg_encode_stop, cfg, cnt)


def _dest(d: Union[str, Tuple[str, int]]) -> str:
    if isinstance(d, tuple):
        host, port = d
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(d)


class _Sender:
    """Shared part of :class:`UdpSender` and :class:`TcpSender`."""

    _ptr: Any

    def _init(self, ptr: Any) -> None:
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, lib.cg_sender_free, ptr)

    def _live(self) -> Any:
        if not self._finalizer.alive:
            raise RuntimeError("sender is closed")
        return self._ptr

    def send_heap(self, cnt: int, items: Optional[Items] = None, payload: Any = b"", dest: int = -1) -> None:
        """Send one heap to destination ``dest`` (index into the
        destinations), or to ``cnt % len(destinations)`` when negative.
        Blocks for the rate limit (the GIL is released)."""
        arr, n = _items(items)
        pay, plen = _payload(payload)
        _ffi.check(lib.cg_sender_send_heap(self._live(), cnt, arr, n, pay, plen, dest))

    def send_stop(self, dest: int = -1) -> None:
        """Send a stream-stop heap to ``dest``, or to every destination."""
        _ffi.check(lib.cg_sender_send_stop(self._live(), dest))

    def flush(self) -> None:
        """Wait until everything queued has been sent."""
        _ffi.check(lib.cg_sender_flush(self._live()))

    def close(self) -> None:
        """Flush and close (idempotent)."""
        self._finalizer()

    def __enter__(self) -> "_Sender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class UdpSender(_Sender):
    """Send heaps over UDP to one or more destinations (``"host:port"`` or
    ``(host, port)``; unicast or multicast), optionally rate limited
    (``rate`` in bytes per second, 0 = unlimited)."""

    def __init__(
        self,
        dests: Union[str, Tuple[str, int], Sequence[Union[str, Tuple[str, int]]]],
        *,
        rate: float = 0.0,
        addr_bits: int = 48,
        max_packet_size: int = 1472,
        packet_payload: int = 0,
        repeat_pointers: bool = True,
        interface_address: Optional[str] = None,
        ttl: int = 0,
        buffer_size: int = 0,
    ) -> None:
        if isinstance(dests, (str, tuple)):
            dests = [dests]
        names = [ffi.new("char[]", _dest(d).encode()) for d in dests]
        if not names:
            raise ValueError("at least one destination is needed")
        arr = ffi.new("char *[]", names)
        cfg, _keep = _config(
            addr_bits, max_packet_size, packet_payload, repeat_pointers, rate, interface_address, ttl, buffer_size
        )
        ptr = _ffi.check_ptr(lib.cg_udp_sender_new(cfg, arr, len(names)), "cg_udp_sender_new")
        self.destinations = [_dest(d) for d in dests]
        self._init(ptr)


class TcpSender(_Sender):
    """Send heaps over one TCP connection (``"host:port"`` or ``(host,
    port)``), connecting now."""

    def __init__(
        self,
        dest: Union[str, Tuple[str, int]],
        *,
        rate: float = 0.0,
        addr_bits: int = 48,
        max_packet_size: int = 1472,
        packet_payload: int = 0,
        repeat_pointers: bool = True,
        buffer_size: int = 0,
    ) -> None:
        cfg, _keep = _config(addr_bits, max_packet_size, packet_payload, repeat_pointers, rate, None, 0, buffer_size)
        ptr = _ffi.check_ptr(lib.cg_tcp_sender_new(cfg, _dest(dest).encode()), "cg_tcp_sender_new", OSError)
        self.destinations = [_dest(dest)]
        self._init(ptr)
