/* Versions: the header and the loaded library agree (number, string, ABI).
 * With --print, prints the library's version string (tests/c/run.sh compares
 * it with pkg-config's). */
#include "common.h"

static void test_versions_agree(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CG_VERSION_MAJOR, CG_VERSION_MINOR, CG_VERSION_PATCH);
    CHECK(strcmp(cg_version(), want) == 0);
    CHECK_EQ(cg_version_number(), CG_VERSION_NUMBER);
    CHECK_EQ(CG_VERSION_NUMBER, CG_VERSION_MAJOR * 1000000 + CG_VERSION_MINOR * 1000 + CG_VERSION_PATCH);
    CHECK_EQ(cg_abi_version(), CG_ABI_VERSION);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        printf("%s\n", cg_version());
        return 0;
    }
    RUN(test_versions_agree);
    TEST_MAIN_END();
}
