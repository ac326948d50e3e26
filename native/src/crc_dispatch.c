/* CRC entry points: chooses at load time the fastest path this CPU runs. */
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "crc_internal.h"
#include "payload_native.h"

typedef uint16_t (*crc16_fn)(uint16_t, const uint8_t *, size_t);
typedef uint32_t (*crc32_fn)(uint32_t, const uint8_t *, size_t);

static crc16_fn crc16_impl = pn_crc16_portable;
static crc32_fn crc32c_impl = pn_crc32c_portable_raw;
static crc32_fn crc32_impl = pn_crc32_portable_raw;
static crc32_fn crc32p_impl = pn_crc32p_portable;
static int current_path = PN_CRC_PORTABLE;
static unsigned available_paths;

static void detect(void)
{
    pn_crc_tables_init();
    pn_crc_fold_init();
    available_paths = 1u << PN_CRC_PORTABLE;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("ssse3") &&
        __builtin_cpu_supports("pclmul")) {
        available_paths |= 1u << PN_CRC_X86_PCLMUL;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq")) {
            available_paths |= 1u << PN_CRC_X86_VPCLMUL;
        }
    }
#elif defined(__aarch64__)
    unsigned long hwcap = getauxval(AT_HWCAP);
    if (hwcap & HWCAP_CRC32) {
        available_paths |= 1u << PN_CRC_ARM_CRC32;
        if (hwcap & HWCAP_PMULL) {
            available_paths |= 1u << PN_CRC_ARM_PMULL;
        }
    }
#endif
}

__attribute__((constructor)) static void crc_setup(void)
{
    detect();
    int best = PN_CRC_PORTABLE;
    for (int path = PN_CRC_PATH_COUNT - 1; path > PN_CRC_PORTABLE; path--) {
        if (available_paths & (1u << path)) {
            best = path;
            break;
        }
    }
    const char *force = getenv("PAYLOAD_NATIVE_PORTABLE");
    if (force != NULL && *force != '\0' && strcmp(force, "0") != 0) {
        best = PN_CRC_PORTABLE;
    }
    pn_crc_path_set(best);
}

unsigned pn_crc_paths(void)
{
    return available_paths;
}

int pn_crc_path_get(void)
{
    return current_path;
}

int pn_crc_path_set(int path)
{
    if (path < 0 || path >= PN_CRC_PATH_COUNT || !(available_paths & (1u << path))) {
        return PN_ERR_RANGE;
    }
    switch (path) {
#if defined(__x86_64__)
    case PN_CRC_X86_VPCLMUL:
        crc16_impl = pn_crc16_x86_vpclmul;
        crc32c_impl = pn_crc32c_x86_vpclmul_raw;
        crc32_impl = pn_crc32_x86_vpclmul_raw;
        crc32p_impl = pn_crc32p_x86_vpclmul;
        break;
    case PN_CRC_X86_PCLMUL:
        crc16_impl = pn_crc16_x86_pclmul;
        crc32c_impl = pn_crc32c_x86_pclmul_raw;
        crc32_impl = pn_crc32_x86_pclmul_raw;
        crc32p_impl = pn_crc32p_x86_pclmul;
        break;
#elif defined(__aarch64__)
    case PN_CRC_ARM_PMULL:
        crc16_impl = pn_crc16_arm_pmull;
        crc32c_impl = pn_crc32c_arm_pmull_raw;
        crc32_impl = pn_crc32_arm_pmull_raw;
        crc32p_impl = pn_crc32p_arm_pmull;
        break;
    case PN_CRC_ARM_CRC32:
        crc16_impl = pn_crc16_portable;
        crc32c_impl = pn_crc32c_arm_crc32_raw;
        crc32_impl = pn_crc32_arm_crc32_raw;
        crc32p_impl = pn_crc32p_portable;
        break;
#endif
    default:
        crc16_impl = pn_crc16_portable;
        crc32c_impl = pn_crc32c_portable_raw;
        crc32_impl = pn_crc32_portable_raw;
        crc32p_impl = pn_crc32p_portable;
        break;
    }
    current_path = path;
    return PN_OK;
}

uint16_t pn_crc16(uint16_t crc, const uint8_t *data, size_t len)
{
    return crc16_impl(crc, data, len);
}

uint32_t pn_crc32c(uint32_t crc, const uint8_t *data, size_t len)
{
    return ~crc32c_impl(~crc, data, len);
}

uint32_t pn_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    return ~crc32_impl(~crc, data, len);
}

uint32_t pn_crc32_prox1(uint32_t crc, const uint8_t *data, size_t len)
{
    return crc32p_impl(crc, data, len);
}
