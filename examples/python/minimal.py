"""Minimal chunkgroup example: a 2-member chunk stream group, fed from
in-memory packets made by chunkgroup.send, with the built-in grid placement.

Heap t carries timestamp item 0x1600 = t and 16 payload bytes; a chunk holds
4 consecutive timestamps; even heaps go to member 0, odd ones to member 1.
"""

import numpy as np

import chunkgroup
from chunkgroup import recv, send

TS_ID = 0x1600
HEAPS_PER_CHUNK = 4
HEAP_SIZE = 16

# chunk_id = timestamp // 4, slot = timestamp % 4, offset = slot * 16
place = recv.GridPlacement(recv.GridDim(0, count=HEAPS_PER_CHUNK), HEAP_SIZE, heap_length_item=1)
chunk_config = recv.ChunkStreamConfig(items=[TS_ID, chunkgroup.HEAP_LENGTH_ID], max_chunks=2, place=place)

data_ring = recv.ChunkRingbuffer(4)
free_ring = recv.ChunkRingbuffer(4)
group = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=4), data_ring, free_ring)
for i in range(2):
    group.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(stream_id=i), chunk_config)
for _ in range(4):
    group.add_free_chunk(recv.Chunk(present=np.zeros(place.heaps_per_chunk, np.uint8),
                                    data=np.zeros(place.chunk_size, np.uint8)))

packets = [bytearray(), bytearray()]
for t in range(8):
    packets[t % 2] += send.encode_heap(t + 1, {TS_ID: t}, bytes([t]) * HEAP_SIZE)
for member, buf in zip(group, packets):
    member.add_buffer_reader(bytes(buf))  # end of buffer ends the member

received = []
for chunk in data_ring:  # ends when every member has finished
    print(f"chunk {chunk.chunk_id}: present={chunk.present.tolist()} first bytes={chunk.data[::HEAP_SIZE].tolist()}")
    received.append((chunk.chunk_id, chunk.present.tolist(), chunk.data[::HEAP_SIZE].tolist()))
    group.add_free_chunk(chunk)

assert received == [(0, [1, 1, 1, 1], [0, 1, 2, 3]), (1, [1, 1, 1, 1], [4, 5, 6, 7])], received
print("stats of member 0:", dict(group[0].stats.items()))
print("OK")
