"""The bench's account of file traffic: which PDUs were sent again, and the cause of each (the
fate of the copy before it), from PDUs built by our encoder."""

from flight.cfdp import pdu as P
from hil.cfdp_figures import ARRIVED, LINE_DAMAGE, NO_WINDOW, RADIO_LOSS, CfdpTrack


def header(seq=7):
    return P.Header(1, seq, 2, acknowledged=True)


def data(offset, size=100, seq=7):
    return P.encode(P.FileData(header(seq), offset, bytes(size)))


def eof(seq=7):
    return P.encode(P.Eof(header(seq), P.Condition.NO_ERROR, 1234, 400))


def test_each_retransmission_is_counted_with_the_fate_of_the_copy_before_it():
    track = CfdpTrack()
    track.down(data(0), ARRIVED)
    track.down(data(100), RADIO_LOSS)
    track.down(data(200), NO_WINDOW)
    track.down(data(400), ARRIVED)  # 300..400 never reached the bus: damaged on the line
    track.down(eof(), ARRIVED)
    track.down(data(100), ARRIVED)  # NAKed: its copy was lost by the radio
    track.down(data(200), ARRIVED)  # its copy was never relayed (no station in view)
    track.down(data(300), ARRIVED)  # never seen before, behind data already sent
    track.down(data(0), ARRIVED)  # its copy had arrived
    track.down(eof(), ARRIVED)  # repeated although the first arrived: its ACK was late or lost
    track.down(data(0, seq=8), ARRIVED)  # another transaction's first data: new
    nak = P.encode(P.Nak(header().replying(), 0, 400, [(100, 300)]))
    track.up(nak, RADIO_LOSS)
    track.up(nak, ARRIVED)
    ack_eof = P.Ack(
        header().replying(), P.Directive.EOF, P.Condition.NO_ERROR, P.TransactionStatus.ACTIVE
    )
    track.up(P.encode(ack_eof), ARRIVED)
    down, up = track.report()["bus"]["down"], track.report()["bus"]["up"]
    assert down["pdus"] == 11 and down["retransmitted"] == 5
    assert down["retransmitted_by_type"] == {"Eof": 1, "FileData": 4}
    assert down["causes"] == {RADIO_LOSS: 1, NO_WINDOW: 1, LINE_DAMAGE: 1, "unneeded": 2}
    assert down["octets_retransmitted"] == 400
    assert up["pdus"] == 3 and up["retransmitted"] == 1 and up["causes"][RADIO_LOSS] == 1
    figures = track.figures()
    assert figures["cfdp_bus_down_retransmitted"] == 5
    assert figures["cfdp_bus_down_retransmitted_unneeded"] == 2
    assert figures["cfdp_bus_up_retransmitted_radio_loss"] == 1


def test_undecodable_octets_are_counted_not_raised():
    track = CfdpTrack()
    track.down(b"\x20\x00", ARRIVED)
    assert track.report()["bus"]["down"]["undecodable"] == 1
