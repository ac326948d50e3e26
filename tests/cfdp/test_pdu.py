"""Our CFDP PDU codec against spacepackets' (the codec of cfdp-py), both ways, and on hostile
bytes: every PDU type encoded by one is decoded to the same fields by the other."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.cfdp import (
    ChecksumType as SpChecksum,
)
from spacepackets.cfdp import (
    ConditionCode,
    CrcFlag,
    Direction,
    LargeFileFlag,
    PduConfig,
    TransmissionMode,
)
from spacepackets.cfdp.pdu import (
    AckPdu,
    EofPdu,
    FileDataPdu,
    FinishedPdu,
    KeepAlivePdu,
    MetadataPdu,
    NakPdu,
    PduFactory,
    PromptPdu,
)
from spacepackets.cfdp.pdu.ack import TransactionStatus as SpStatus
from spacepackets.cfdp.pdu.file_data import FileDataParams
from spacepackets.cfdp.pdu.finished import DeliveryCode, FinishedParams
from spacepackets.cfdp.pdu.finished import FileStatus as SpFileStatus
from spacepackets.cfdp.pdu.metadata import MetadataParams
from spacepackets.cfdp.pdu.prompt import ResponseRequired
from spacepackets.cfdp.tlv import EntityIdTlv
from spacepackets.util import UnsignedByteField

import native
from flight.cfdp import pdu as P

headers = st.builds(
    lambda id_len, seq_len, ack, crc, large, data: P.Header(
        source_id=data.draw(st.integers(0, (1 << (8 * id_len)) - 1)),
        seq_num=data.draw(st.integers(0, (1 << (8 * seq_len)) - 1)),
        dest_id=data.draw(st.integers(0, (1 << (8 * id_len)) - 1)),
        acknowledged=ack,
        crc=crc,
        large_file=large,
        id_len=id_len,
        seq_len=seq_len,
    ),
    st.sampled_from([1, 2, 4, 8]),
    st.sampled_from([1, 2, 4, 8]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.data(),
)
sizes = st.integers(0, 0xFFFFFFFF)
# spacepackets has no INVALID_FILE_STRUCTURE (9): compare the codes both know.
conditions = st.sampled_from([c for c in P.Condition if c in {int(x) for x in ConditionCode}])
names = st.text(min_size=1, max_size=60).filter(lambda t: len(t.encode()) <= 255)


def sp_conf(h: P.Header, toward_sender: bool = False) -> PduConfig:
    return PduConfig(
        source_entity_id=UnsignedByteField(h.source_id, h.id_len),
        dest_entity_id=UnsignedByteField(h.dest_id, h.id_len),
        transaction_seq_num=UnsignedByteField(h.seq_num, h.seq_len),
        trans_mode=TransmissionMode.ACKNOWLEDGED
        if h.acknowledged
        else TransmissionMode.UNACKNOWLEDGED,
        file_flag=LargeFileFlag.LARGE if h.large_file else LargeFileFlag.NORMAL,
        crc_flag=CrcFlag.WITH_CRC if h.crc else CrcFlag.NO_CRC,
        direction=Direction.TOWARDS_SENDER if toward_sender else Direction.TOWARDS_RECEIVER,
    )


def check_header(ours: P.Header, theirs: PduConfig) -> None:
    assert theirs.source_entity_id.value == ours.source_id
    assert theirs.dest_entity_id.value == ours.dest_id
    assert theirs.transaction_seq_num.value == ours.seq_num
    assert (theirs.trans_mode == TransmissionMode.ACKNOWLEDGED) == ours.acknowledged
    assert (theirs.crc_flag == CrcFlag.WITH_CRC) == ours.crc
    assert (theirs.file_flag == LargeFileFlag.LARGE) == ours.large_file


@settings(max_examples=200)
@given(headers, sizes, st.binary(min_size=1, max_size=1500))
def test_file_data_both_ways(h, offset, data):
    theirs = PduFactory.from_raw(P.encode(P.FileData(h, offset, data)))
    check_header(h, theirs.pdu_header.pdu_conf)
    assert (theirs.offset, bytes(theirs.file_data)) == (offset, data)
    raw = FileDataPdu(sp_conf(h), FileDataParams(data, offset)).pack()
    ours = P.decode(raw)
    assert ours.header == h and ours.offset == offset and bytes(ours.data) == data
    if h.large_file or offset + len(data) <= 0xFFFFFFFF:
        assert P.FileDataEncoder(h).encode(offset, data) == raw
    else:  # a small file ends at 2^32 - 1 octets: the native core writes no PDU beyond it
        with pytest.raises(ValueError, match="32-bit offsets"):
            P.FileDataEncoder(h).encode(offset, data)


@settings(max_examples=200)
@given(headers, st.integers(0, 1 << 20), st.binary(max_size=5000), st.integers(1, 2000))
def test_file_data_many_to_a_call_are_the_pdus_one_at_a_time(h, offset, data, segment):
    """The native core's PDUs of a chunk are the Python codec's, one per segment, and
    spacepackets reads each back to its piece of the chunk; joined, they lie back to back, each
    of the segment size but the last."""
    encoder = P.FileDataEncoder(h)
    joined = encoder.encode_joined(offset, data, segment)
    stride = encoder.overhead + segment
    pdus = [joined[at : at + stride] for at in range(0, len(joined), stride)]
    assert len(pdus) == -(-len(data) // segment)
    assert len(joined) == len(data) + len(pdus) * encoder.overhead
    at = 0
    for raw in pdus:
        piece = data[at : at + segment]
        assert raw == P.encode(P.FileData(h, offset + at, piece))
        theirs = PduFactory.from_raw(raw)
        assert (theirs.offset, bytes(theirs.file_data)) == (offset + at, piece)
        at += len(piece)
    assert at == len(data)


@settings(max_examples=200)
@given(headers, st.integers(0, 1 << 20), st.binary(max_size=3000))
def test_the_native_core_reads_a_file_data_pdu_as_the_codec_does(h, offset, data):
    raw = P.encode(P.FileData(h, offset, data))
    header_len = len(h.prefix(True))
    at = header_len + h.fss.size
    assert native.cfdp_file_data(raw) == (header_len, offset, at, len(data))
    assert native.cfdp_file_data(raw[:-1]) is None and native.cfdp_file_data(raw + b"x") is None
    if h.crc:  # a flipped bit: refused, and the codec says why
        bad = bytearray(raw)
        bad[-3] ^= 0x10
        assert native.cfdp_file_data(bytes(bad)) is None
        with pytest.raises(P.PduError) as refused:
            P.decode(bytes(bad))
        assert refused.value.reason == "crc"
    for directive in (P.Eof(h, P.Condition.NO_ERROR, 1, 2), P.Prompt(h, True)):
        assert native.cfdp_file_data(P.encode(directive)) is None


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_the_native_core_reads_any_bytes_as_file_data_only_when_the_codec_does(raw):
    parts = native.cfdp_file_data(raw)
    try:
        pdu = P.decode(raw)
    except P.PduError:
        pdu = None
    if parts is None:
        assert not isinstance(pdu, P.FileData)
    else:
        header_len, offset, at, octets = parts
        assert isinstance(pdu, P.FileData) and (pdu.offset, bytes(pdu.data)) == (
            offset, raw[at : at + octets]
        )  # fmt: skip


def test_file_data_pdus_refuse_what_no_pdu_can_carry():
    small = P.Header(1, 1, 2, crc=True)
    with pytest.raises(ValueError, match="not file data PDUs"):
        P.FileDataEncoder(small).encode_joined(0, b"x" * 10, 0)
    with pytest.raises(ValueError, match="not file data PDUs"):  # 65535 octets of data field
        P.FileDataEncoder(small).encode_joined(0, b"x" * 10, 65535 - 4 - 2 + 1)
    assert len(P.FileDataEncoder(small).encode_joined(0, b"x" * 10, 65535 - 4 - 2)) == 10 + 18
    with pytest.raises(ValueError, match="32-bit offsets"):
        P.FileDataEncoder(small).encode_joined(0xFFFFFFFF, b"x", 1)
    big = P.Header(1, 1, 2, large_file=True)
    assert P.decode(P.FileDataEncoder(big).encode(1 << 40, b"yz")).offset == 1 << 40
    with pytest.raises(ValueError, match="not the header of file data PDUs"):
        native.FileDataPdus(P.Header(1, 1, 2).prefix(False))
    with pytest.raises(ValueError, match="of 3 octets"):
        native.FileDataPdus(b"\x30\x00\x00")


@settings(max_examples=100)
@given(headers, sizes, names, names, st.sampled_from(list(P.ChecksumType)), st.booleans())
def test_metadata_both_ways(h, size, source, dest, checksum, closure):
    raw = P.encode(P.Metadata(h, size, source, dest, checksum, closure))
    theirs = PduFactory.from_raw(raw)
    check_header(h, theirs.pdu_header.pdu_conf)
    assert theirs.file_size == size and theirs.checksum_type == checksum
    assert theirs.source_file_name == source and theirs.dest_file_name == dest
    assert theirs.closure_requested == closure
    params = MetadataParams(closure, SpChecksum(int(checksum)), size, source, dest)
    assert P.decode(MetadataPdu(sp_conf(h), params).pack()) == P.Metadata(
        h, size, source, dest, checksum, closure
    )


@settings(max_examples=100)
@given(headers, conditions, sizes, sizes)
def test_eof_both_ways(h, condition, checksum, size):
    fault = None if condition == P.Condition.NO_ERROR else h.dest_id
    raw = P.encode(P.Eof(h, condition, checksum, size, fault))
    theirs = PduFactory.from_raw(raw)
    # spacepackets 0.32 unpacks the EOF condition code without shifting it down (it packs it
    # shifted, as the standard has it): compare its field where it left it.
    assert theirs.condition_code == condition << 4 and theirs.file_size == size
    assert int.from_bytes(theirs.file_checksum, "big") == checksum
    if fault is not None:
        assert int.from_bytes(theirs.fault_location.value, "big") == fault
    tlv = None if fault is None else EntityIdTlv(fault.to_bytes(h.id_len, "big"))
    back = EofPdu(sp_conf(h), checksum, size, tlv, ConditionCode(int(condition))).pack()
    assert P.decode(back) == P.Eof(h, condition, checksum, size, fault)


@settings(max_examples=100)
@given(headers, conditions, st.booleans(), st.sampled_from(list(P.FileStatus)))
def test_finished_both_ways(h, condition, complete, status):
    h = h.replying()
    raw = P.encode(P.Finished(h, condition, complete, status))
    theirs = PduFactory.from_raw(raw)
    assert theirs.condition_code == condition and theirs.file_status == status
    assert (theirs.delivery_code == DeliveryCode.DATA_COMPLETE) == complete
    params = FinishedParams(
        ConditionCode(int(condition)),
        DeliveryCode.DATA_COMPLETE if complete else DeliveryCode.DATA_INCOMPLETE,
        SpFileStatus(int(status)),
    )
    assert P.decode(FinishedPdu(sp_conf(h, True), params).pack()) == P.Finished(
        h, condition, complete, status
    )


@settings(max_examples=100)
@given(
    headers,
    st.sampled_from([P.Directive.EOF, P.Directive.FINISHED]),
    conditions,
    st.sampled_from(list(P.TransactionStatus)),
)
def test_ack_both_ways(h, directive, condition, status):
    if directive == P.Directive.EOF:  # an ACK goes the other way from what it acknowledges
        h = h.replying()
    raw = P.encode(P.Ack(h, directive, condition, status))
    theirs = PduFactory.from_raw(raw)
    assert int(theirs.directive_code_of_acked_pdu) == directive
    assert theirs.condition_code_of_acked_pdu == condition
    assert theirs.transaction_status == status
    back = AckPdu(
        sp_conf(h, h.toward_sender),
        theirs.directive_code_of_acked_pdu,
        ConditionCode(int(condition)),
        SpStatus(int(status)),
    ).pack()
    assert P.decode(back) == P.Ack(h, directive, condition, status)


@settings(max_examples=100)
@given(headers, sizes, sizes, st.lists(st.tuples(sizes, sizes), max_size=20))
def test_nak_both_ways(h, start, end, segments):
    h = h.replying()
    raw = P.encode(P.Nak(h, start, end, segments))
    theirs = PduFactory.from_raw(raw)
    assert (theirs.start_of_scope, theirs.end_of_scope) == (start, end)
    assert list(theirs.segment_requests or []) == segments
    back = NakPdu(sp_conf(h, True), start, end, segments).pack()
    assert P.decode(back) == P.Nak(h, start, end, segments)


@given(headers, st.booleans(), sizes)
def test_prompt_and_keep_alive_both_ways(h, keep_alive, progress):
    theirs = PduFactory.from_raw(P.encode(P.Prompt(h, keep_alive)))
    assert (theirs.response_required == ResponseRequired.KEEP_ALIVE) == keep_alive
    back = PromptPdu(
        sp_conf(h), ResponseRequired.KEEP_ALIVE if keep_alive else ResponseRequired.NAK
    ).pack()
    assert P.decode(back) == P.Prompt(h, keep_alive)
    h = h.replying()
    assert PduFactory.from_raw(P.encode(P.KeepAlive(h, progress))).progress == progress
    assert P.decode(KeepAlivePdu(sp_conf(h, True), progress).pack()) == P.KeepAlive(h, progress)


@settings(max_examples=3000)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_pdu_error(data):
    try:
        P.decode(data)
    except P.PduError as exc:
        assert exc.reason


@settings(max_examples=1000)
@given(headers, st.binary(min_size=1, max_size=64), st.integers(0, 200), st.integers(0, 255))
def test_a_damaged_crc_pdu_is_refused(h, data, where, value):
    h = P.Header(
        h.source_id,
        h.seq_num,
        h.dest_id,
        h.acknowledged,
        False,
        True,
        h.large_file,
        h.id_len,
        h.seq_len,
    )
    raw = bytearray(P.encode(P.FileData(h, 0, data)))
    where %= len(raw)
    if where == 0:  # a damage that clears the CRC flag itself removes the CRC: none to check
        value |= 2
    if raw[where] == value:
        return
    raw[where] = value
    try:
        P.decode(raw)
    except P.PduError:
        return
    raise AssertionError("a damaged PDU with a CRC was accepted")


def extended(pdu: bytes, extra: bytes) -> bytes:
    """The PDU with octets appended to its data field, its length field to match."""
    length = int.from_bytes(pdu[1:3], "big") + len(extra)
    return pdu[:1] + length.to_bytes(2, "big") + pdu[3:] + extra


def test_refusals_name_their_reason():
    h = P.Header(1, 2, 3)
    good = P.encode(P.Eof(h, P.Condition.NO_ERROR, 0, 10))
    cases = {
        "truncated": good[:3],
        "version": bytes((0x00,)) + good[1:],
        "length": good + b"\0",
        "directive": good[:12] + b"\x01" + good[13:],
        "tlv": extended(good, b"\x06\x09"),
    }
    for reason, raw in cases.items():
        try:
            P.decode(raw)
        except P.PduError as exc:
            assert exc.reason == reason, (reason, str(exc))
        else:
            raise AssertionError(f"{reason}: accepted")
