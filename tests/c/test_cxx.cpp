// The header must compile as C++17 with -Wall -Wextra -Werror; this also
// links and calls a few functions, so the extern "C" block is checked.
#include "chunkgroup.h"

#include <cstdio>
#include <cstring>

static void place(cg_place_data *d, size_t, void *) { d->chunk_id = -1; }

int main() {
    static_assert(sizeof(cg_chunk) == 9 * sizeof(void *), "cg_chunk layout");
    cg_chunk_stream_config *c = cg_chunk_stream_config_new();
    int rc = cg_chunk_stream_config_set_place(c, place, nullptr);
    cg_chunk_stream_config_free(c);
    cg_ring *r = cg_ring_new(1);
    cg_chunk ch{};
    cg_chunk *out = nullptr;
    rc |= cg_ring_push(r, &ch) | cg_ring_pop(r, &out);
    cg_ring_free(r);
    bool ok = rc == CG_OK && out == &ch && std::strlen(cg_version()) > 0;
    std::printf("%s test_cxx_header\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
