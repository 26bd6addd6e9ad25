"""Configuration objects: defaults, properties, validation; StreamStats."""

import pytest
from hypothesis import given, strategies as st

import chunkgroup
from chunkgroup import recv
from chunkgroup import _ffi

STANDARD = [
    "packets", "batches", "max_batch", "heaps", "incomplete_heaps_evicted",
    "incomplete_heaps_flushed", "single_packet_heaps", "search_dist", "worker_blocked",
    "too_old_heaps", "rejected_heaps", "bad_placement_heaps", "malformed_packets", "far_jump_heaps",
    "no_chunk_heaps",
]


def test_stream_config_defaults():
    c = recv.StreamConfig()
    assert recv.StreamConfig.DEFAULT_MAX_HEAPS == 4
    assert c.max_heaps == 4
    assert c.substreams == 1
    assert c.stop_on_stop_item is True
    assert c.allow_out_of_order is False
    assert c.stream_id == 0
    assert c.explicit_start is False
    assert c.memcpy == chunkgroup.MEMCPY_NONTEMPORAL
    assert [s.name for s in c.stats] == STANDARD
    assert c.stats[2].mode == recv.StreamStatConfig.Mode.MAXIMUM
    assert c.next_stat_index() == 15


def test_stream_config_properties():
    c = recv.StreamConfig(max_heaps=7, substreams=3, stop_on_stop_item=False, allow_out_of_order=True,
                          stream_id=12, explicit_start=True)
    assert (c.max_heaps, c.substreams, c.stop_on_stop_item, c.allow_out_of_order, c.stream_id,
            c.explicit_start) == (7, 3, False, True, 12, True)
    c.max_heaps = 2
    c.substreams = 5
    c.stream_id = 99
    c.explicit_start = False
    assert (c.max_heaps, c.substreams, c.stream_id, c.explicit_start) == (2, 5, 99, False)


@pytest.mark.parametrize("kw", [{"max_heaps": 0}, {"substreams": 0}, {"max_heaps": -1}, {"stream_id": -1},
                                {"substreams": -5}, {"memcpy": 2}])
def test_stream_config_invalid(kw):
    with pytest.raises(ValueError):
        recv.StreamConfig(**kw)


def test_stream_config_setter_invalid():
    c = recv.StreamConfig()
    with pytest.raises(ValueError):
        c.max_heaps = 0
    with pytest.raises(TypeError):
        c.max_heaps = "many"
    assert c.max_heaps == 4


def test_custom_stats_agree_with_native():
    c = recv.StreamConfig()
    assert c.add_stat("foo") == 15
    assert c.add_stat("bar", recv.StreamStatConfig.Mode.MAXIMUM) == 16
    assert c.next_stat_index() == 17
    with pytest.raises(ValueError):
        c.add_stat("foo")
    with pytest.raises(ValueError):
        c.add_stat("heaps")
    assert c.get_stat_index("bar") == 16
    assert c.get_stat_index("heaps") == 3
    with pytest.raises(KeyError):
        c.get_stat_index("nope")
    with pytest.raises(IndexError):
        c.get_stat_index("nope")
    native = recv._native_stream_config(c)
    lib, ffi = _ffi.lib, _ffi.ffi
    try:
        assert lib.cg_stream_config_stat_count(native) == len(c.stats) == 17
        idx = ffi.new("size_t *")
        for i, s in enumerate(c.stats):
            assert ffi.string(lib.cg_stream_config_stat_name(native, i)).decode() == s.name
            assert lib.cg_stream_config_stat_mode(native, i) == s.mode
            assert lib.cg_stream_config_get_stat_index(native, s.name.encode(), idx) == 0
            assert idx[0] == i == c.get_stat_index(s.name)
        assert lib.cg_stream_config_get_max_heaps(native) == 4
    finally:
        lib.cg_stream_config_free(native)


@given(st.lists(st.text(alphabet="abcdefghij_", min_size=1, max_size=8), max_size=10, unique=True))
def test_custom_stat_indices_property(names):
    c = recv.StreamConfig()
    names = [n for n in names if n not in STANDARD]
    for i, n in enumerate(names):
        assert c.add_stat(n) == 15 + i
    assert [s.name for s in c.stats] == STANDARD + names


def test_stat_config():
    s = recv.StreamStatConfig("x")
    assert s.name == "x" and s.mode == recv.StreamStatConfig.Mode.COUNTER
    assert s.combine(3, 4) == 7
    m = recv.StreamStatConfig("y", recv.StreamStatConfig.Mode.MAXIMUM)
    assert m.combine(3, 4) == 4
    assert s == recv.StreamStatConfig("x")
    with pytest.raises(ValueError):
        recv.StreamStatConfig("z", 7)


def test_chunk_stream_config_defaults_and_properties():
    c = recv.ChunkStreamConfig()
    assert recv.ChunkStreamConfig.DEFAULT_MAX_CHUNKS == 2
    assert c.items == [] and c.max_chunks == 2 and c.place is None and c.max_heap_extra == 0
    assert c.packet_presence_payload_size == 0
    c.items = [1, 0x1600]
    items = c.items
    items.append(5)
    assert c.items == [1, 0x1600]  # a copy
    c.max_chunks = 5
    c.max_heap_extra = 16
    c.enable_packet_presence(1024)
    assert (c.max_chunks, c.max_heap_extra, c.packet_presence_payload_size) == (5, 16, 1024)
    c.disable_packet_presence()
    assert c.packet_presence_payload_size == 0
    g = recv.GridPlacement(recv.GridDim(0, count=4), 32)
    c.place = g
    assert c.place is g


@pytest.mark.parametrize("kw", [{"max_chunks": 0}, {"max_chunks": -1}, {"max_heap_extra": -1}, {"items": [-1]}])
def test_chunk_stream_config_invalid(kw):
    with pytest.raises(ValueError):
        recv.ChunkStreamConfig(**kw)


def test_packet_presence_invalid():
    with pytest.raises(ValueError):
        recv.ChunkStreamConfig().enable_packet_presence(0)


def test_place_python_callable_refused():
    with pytest.raises(TypeError, match="Python callable"):
        recv.ChunkStreamConfig(place=lambda data, size: None)


def test_place_bad_capsule_name():
    from conftest import make_capsule
    cap = make_capsule(0x1000, "int (int)")
    with pytest.raises(TypeError, match="signature"):
        recv.ChunkStreamConfig(place=(cap, None))


def test_group_config():
    c = recv.ChunkStreamGroupConfig()
    assert recv.ChunkStreamGroupConfig.DEFAULT_MAX_CHUNKS == 2
    assert c.max_chunks == 2
    assert c.eviction_mode == recv.ChunkStreamGroupConfig.EvictionMode.LOSSY
    c = recv.ChunkStreamGroupConfig(max_chunks=5, eviction_mode=recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS)
    assert c.max_chunks == 5 and c.eviction_mode == recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS
    with pytest.raises(ValueError):
        recv.ChunkStreamGroupConfig(max_chunks=0)
    with pytest.raises(ValueError):
        recv.ChunkStreamGroupConfig(eviction_mode=9)
    with pytest.raises(ValueError):
        c.max_chunks = 0


def test_group_config_lossy_grace_reaches_the_library():
    from chunkgroup._ffi import lib

    assert recv.ChunkStreamGroupConfig().lossy_grace is None
    cases = [(None, 5000), (0, -1), (0.002, 2000), (1e-9, 1)]  # seconds -> microseconds in effect
    for grace, want in cases:
        c = recv.ChunkStreamGroupConfig(lossy_grace=grace)
        assert c.lossy_grace == (None if grace is None else float(grace))
        gc = lib.cg_group_config_new()
        assert lib.cg_group_config_set_lossy_grace(gc, c._grace_us()) == 0
        assert lib.cg_group_config_get_lossy_grace(gc) == want
        lib.cg_group_config_free(gc)
    assert "lossy_grace=0.002" in repr(recv.ChunkStreamGroupConfig(lossy_grace=0.002))
    for bad in (-1, 3601):
        with pytest.raises(ValueError):
            recv.ChunkStreamGroupConfig(lossy_grace=bad)
    # A ring group accepts it (and its copy keeps it).
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(lossy_grace=0.001), recv.ChunkRingbuffer(2), recv.ChunkRingbuffer(2))
    assert g.config.lossy_grace == 0.001
    g.stop()


def test_grid_placement_layout():
    g = recv.GridPlacement(recv.GridDim(0, count=4), 100, dims=[recv.GridDim(1, count=3), recv.GridDim(2, count=2)])
    assert [d.stride for d in g.dims] == [2, 1]
    assert g.time.stride == 6
    assert g.heaps_per_chunk == 24
    assert g.chunk_size == 2400
    assert recv.GridPlacement(recv.GridDim(0, count=4), 8, extra_items=[0, 1]).extra_size == 64
    with pytest.raises(ValueError):
        recv.GridDim(0, step=0)
    with pytest.raises(ValueError):
        recv.GridDim(0, count=0)
    with pytest.raises(ValueError):
        recv.GridPlacement(recv.GridDim(0), 0)


def test_thread_pool():
    p = chunkgroup.ThreadPool()
    assert p.num_threads == 1 and p.affinity == []
    p = chunkgroup.ThreadPool(2, [0])
    assert p.affinity == [0]
    with pytest.raises(ValueError):
        chunkgroup.ThreadPool(0)


def _stats(values, extra=()):
    cfg = recv.StreamConfig()
    for name, mode in extra:
        cfg.add_stat(name, mode)
    return recv.StreamStats(cfg.stats, values)


def test_stream_stats_access():
    values = list(range(100, 117))
    s = _stats(values, [("custom", recv.StreamStatConfig.Mode.COUNTER), ("peak", recv.StreamStatConfig.Mode.MAXIMUM)])
    assert s.packets == 100 and s.batches == 101 and s.max_batch == 102 and s.heaps == 103
    assert s.incomplete_heaps_evicted == 104 and s.incomplete_heaps_flushed == 105
    assert s.single_packet_heaps == 106 and s.search_dist == 107 and s.worker_blocked == 108
    assert s["too_old_heaps"] == 109 and s["rejected_heaps"] == 110 and s["far_jump_heaps"] == 113
    assert s["no_chunk_heaps"] == 114
    assert s["custom"] == 115
    assert s[0] == 100 and s[16] == 116 and s[-1] == 116
    assert len(s) == 17
    assert list(s) == STANDARD + ["custom", "peak"]
    assert s.keys() == STANDARD + ["custom", "peak"]
    assert s.values() == values
    assert s.items()[15] == ("custom", 115)
    assert s.get("peak") == 116 and s.get("nope") is None and s.get("nope", 5) == 5
    assert "custom" in s and "nope" not in s
    with pytest.raises(KeyError):
        s["nope"]
    with pytest.raises(IndexError):
        s[17]
    with pytest.raises(AttributeError):
        s.nope


def test_stream_stats_add():
    extra = [("custom", recv.StreamStatConfig.Mode.COUNTER), ("peak", recv.StreamStatConfig.Mode.MAXIMUM)]
    a = _stats([1] * 17, extra)
    b = _stats([2] * 17, extra)
    c = a + b
    assert c.packets == 3 and c.max_batch == 2 and c["custom"] == 3 and c["peak"] == 2
    with pytest.raises(ValueError):
        a + _stats([0] * 15)


def test_recv_public_names_unchanged_by_the_split():
    # python/chunkgroup/recv is split by concept (config, placement, chunks,
    # streams); its public surface is exactly what it was.
    assert set(recv.__all__) == {
        "StreamStatConfig", "StreamConfig", "StreamStats", "ChunkStreamConfig", "Chunk", "ChunkRingbuffer",
        "ChunkStreamGroupConfig", "ChunkStreamRingGroup", "ChunkStreamGroupMember", "ChunkRingStream",
        "GridDim", "GridPlacement", "UdpXdpConfig", "DEFAULT_UDP_MAX_SIZE", "DEFAULT_UDP_BUFFER_SIZE", "DEFAULT_TCP_MAX_SIZE",
        "DEFAULT_TCP_BUFFER_SIZE",
    }
    for name in recv.__all__:
        obj = getattr(recv, name)
        if isinstance(obj, type):
            assert obj.__module__ == "chunkgroup.recv", name
