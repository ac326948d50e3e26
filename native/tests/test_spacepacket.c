/* Unit tests for the CCSDS primary header pack and unpack. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

int main(void)
{
    /* A telecommand to APID 0x065 with a secondary header, unsegmented, count 5, 12 data octets. */
    pn_sp_header h = {0, 1, 1, 0x065, 3, 5, 11};
    uint8_t out[6];
    CHECK_EQ(pn_sp_pack(&h, out), PN_OK);
    const uint8_t expect[6] = {0x18, 0x65, 0xC0, 0x05, 0x00, 0x0B};
    CHECK(memcmp(out, expect, 6) == 0);

    pn_sp_header back;
    memset(&back, 0xAA, sizeof back);
    CHECK_EQ(pn_sp_unpack(out, 6, &back), PN_OK);
    CHECK_EQ(back.version, 0);
    CHECK_EQ(back.type, 1);
    CHECK_EQ(back.sec_hdr_flag, 1);
    CHECK_EQ(back.apid, 0x065);
    CHECK_EQ(back.seq_flags, 3);
    CHECK_EQ(back.seq_count, 5);
    CHECK_EQ(back.data_length, 11);

    /* Extremes of every field survive a round trip. */
    pn_sp_header max = {7, 1, 1, 0x7FF, 3, 0x3FFF, 0xFFFF};
    CHECK_EQ(pn_sp_pack(&max, out), PN_OK);
    CHECK_EQ(pn_sp_unpack(out, 6, &back), PN_OK);
    CHECK_EQ(back.version, 7);
    CHECK_EQ(back.apid, 0x7FF);
    CHECK_EQ(back.seq_count, 0x3FFF);
    CHECK_EQ(back.data_length, 0xFFFF);

    /* Each field one past its width is refused. */
    const pn_sp_header bad[] = {
        {8, 1, 1, 0x065, 3, 5, 11},      /* version */
        {0, 2, 1, 0x065, 3, 5, 11},      /* type */
        {0, 1, 2, 0x065, 3, 5, 11},      /* secondary header flag */
        {0, 1, 1, 0x800, 3, 5, 11},      /* APID */
        {0, 1, 1, 0x065, 4, 5, 11},      /* sequence flags */
        {0, 1, 1, 0x065, 3, 0x4000, 11}, /* sequence count */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(pn_sp_pack(&bad[i], out), PN_ERR_RANGE);
    }

    CHECK_EQ(pn_sp_unpack(out, 5, &back), PN_ERR_SHORT);
    return check_report("test_spacepacket");
}
