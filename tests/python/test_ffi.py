"""The cffi declarations match include/chunkgroup.h; errors and logging."""

import errno
import logging
import os
import re
import socket

import cffi
import pytest

import chunkgroup
from chunkgroup import _ffi, recv

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "chunkgroup.h")


def _header_cdef():
    with open(HEADER) as f:
        return _ffi.header_cdef(f.read())


def _functions(ffi):
    decls = ffi._parser._declarations
    return {k.split(" ", 1)[1]: v[0].get_c_name() for k, v in decls.items() if k.startswith("function ")}


def test_every_header_function_is_declared_with_the_same_signature():
    header_ffi = cffi.FFI()
    header_ffi.cdef(_header_cdef())
    want = _functions(header_ffi)
    have = _functions(_ffi.ffi)
    assert len(want) > 90
    assert sorted(set(want) - set(have)) == []
    assert sorted(set(have) - set(want)) == []
    for name, sig in want.items():
        assert have[name] == sig, name


def test_types_and_constants_match_header():
    header_ffi = cffi.FFI()
    header_ffi.cdef(_header_cdef())
    for t in ("cg_chunk", "cg_place_data", "cg_grid_dim", "cg_grid", "cg_item", "cg_sender_config"):
        assert header_ffi.sizeof(t) == _ffi.ffi.sizeof(t), t
        for field, _ in header_ffi.typeof(t).fields:
            assert header_ffi.offsetof(t, field) == _ffi.ffi.offsetof(t, field), (t, field)
    hlib = header_ffi.dlopen(_ffi.LIB_PATH)
    for name in dir(hlib):
        if name.startswith("CG_"):
            assert getattr(hlib, name) == getattr(_ffi.lib, name), name


def test_every_declared_function_is_exported():
    missing = []
    for name in _functions(_ffi.ffi):
        try:
            getattr(_ffi.lib, name)
        except AttributeError:
            missing.append(name)
    assert missing == []


def test_place_data_layout_is_spead2s():
    # pointer, size_t, pointer, int64, size_t, size_t, pointer, pointer, size_t, size_t
    ffi = _ffi.ffi
    assert ffi.sizeof("cg_place_data") == 10 * 8
    assert ffi.offsetof("cg_place_data", "chunk_id") == 24
    assert ffi.offsetof("cg_place_data", "extra_size") == 72


def test_version():
    assert chunkgroup.__version__ == "0.2.0"
    assert chunkgroup.native_version() == "0.2.0"


def test_constants():
    assert (chunkgroup.HEAP_CNT_ID, chunkgroup.HEAP_LENGTH_ID, chunkgroup.PAYLOAD_OFFSET_ID) == (1, 2, 3)
    assert (chunkgroup.PAYLOAD_LENGTH_ID, chunkgroup.DESCRIPTOR_ID, chunkgroup.STREAM_CTRL_ID) == (4, 5, 6)
    assert chunkgroup.CTRL_STREAM_STOP == 2
    for exc in (chunkgroup.Stopped, chunkgroup.Empty, chunkgroup.Full):
        assert issubclass(exc, Exception)


def test_error_mapping():
    lib = _ffi.lib
    assert isinstance(_ffi.make_error(lib.CG_EINVAL), ValueError)
    assert isinstance(_ffi.make_error(lib.CG_ESTATE), RuntimeError)
    assert isinstance(_ffi.make_error(lib.CG_EIO), OSError)
    assert isinstance(_ffi.make_error(lib.CG_ESTOPPED), chunkgroup.Stopped)
    assert isinstance(_ffi.make_error(lib.CG_EEMPTY), chunkgroup.Empty)
    assert isinstance(_ffi.make_error(lib.CG_EFULL), chunkgroup.Full)
    assert isinstance(_ffi.make_error(lib.CG_ENOMEM), MemoryError)


def test_native_value_error_has_message():
    c = _ffi.lib.cg_stream_config_new()
    try:
        with pytest.raises(ValueError) as info:
            _ffi.check(_ffi.lib.cg_stream_config_set_max_heaps(c, 0))
        assert str(info.value)
    finally:
        _ffi.lib.cg_stream_config_free(c)


def _group_member():
    from conftest import make_group

    g = make_group(n_members=1, n_free=1)
    return g, g[0]


def test_udp_address_in_use_is_oserror_with_errno():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    g, m = _group_member()
    try:
        with pytest.raises(OSError) as info:
            m.add_udp_reader(port, bind_hostname="127.0.0.1")
        assert info.value.errno == errno.EADDRINUSE
    finally:
        g.stop()
        s.close()


def test_pcap_missing_file_is_oserror():
    g, m = _group_member()
    try:
        with pytest.raises(OSError) as info:
            m.add_udp_pcap_file_reader("/nonexistent/file.pcap")
        assert info.value.errno == errno.ENOENT
    finally:
        g.stop()


def test_native_log_goes_to_logging(caplog):
    # A UDP reader asking for a huge socket buffer that an unprivileged
    # socket cannot get logs a warning; as root the buffer is forced, so
    # accept either, but any native message must arrive via logging.
    caplog.set_level(logging.DEBUG, logger="chunkgroup")
    g, m = _group_member()
    try:
        # A reader failure is logged: a TCP acceptor on a socket that is not
        # listening fails in its thread.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        try:
            m.add_tcp_reader(s)
        except OSError:
            pass
        g.stop()
    finally:
        s.close()
    # Emit directly through the callback too, to test the bridge itself.
    _ffi._log_callback(2, _ffi.ffi.new("char[]", b"hello from native"), _ffi.ffi.NULL)
    records = [r for r in caplog.records if r.name == "chunkgroup"]
    assert any(r.getMessage() == "chunkgroup: hello from native" and r.levelno == logging.WARNING for r in records)


def test_library_path_is_a_real_file():
    assert os.path.exists(_ffi.LIB_PATH)
