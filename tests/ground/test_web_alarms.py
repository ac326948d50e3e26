"""The web mission control's alarm list: raised beyond a limit, kept until acknowledged even after
the value returns, raised again when worse, hidden while shelved, each packet judged once however
many station links bring it."""

from __future__ import annotations

from flight.protocol.messages import decode_telemetry
from flight.protocol.packets import parse_packet
from ground.web.alarms import AlarmBook
from tests.ground.test_archive import T0, hk, tm

KEY = "HOUSEKEEPING.gpu_temp_c"  # yellow above 80, red above 87


def housekeeping(second: int, **values):
    values = hk(battery_soc=0.9) | values  # every other value within its limits
    return decode_telemetry(parse_packet(tm("HOUSEKEEPING", values, second, T0 + second)))


def test_an_alarm_stays_until_acknowledged_and_comes_back_when_worse():
    told = []
    book = AlarmBook(told.append)
    book.observe(housekeeping(1, gpu_temp_c=50.0))
    assert book.listing() == [] and told == []
    book.observe(housekeeping(2, gpu_temp_c=82.0))
    book.observe(housekeeping(2, gpu_temp_c=99.0))  # the same packet from another link: once
    book.observe(housekeeping(3, gpu_temp_c=83.0))  # still yellow: nothing new to tell
    (alarm,) = book.listing()
    assert (alarm["key"], alarm["level"], alarm["value"], alarm["returned"]) == (
        KEY,
        "yellow",
        83.0,
        False,
    )
    assert len(told) == 1 and told[0]["op"] == "alarm"
    book.observe(housekeeping(4, gpu_temp_c=60.0))  # back within limits: it stays
    assert book.listing()[0]["returned"] is True
    assert book.acknowledge(KEY, "ana") is True  # returned and acknowledged: off the list
    assert book.listing() == [] and told[-1] == {"op": "alarm-cleared", "key": KEY}

    book.observe(housekeeping(5, gpu_temp_c=81.0))
    book.acknowledge(KEY, "ana")
    assert book.listing()[0]["acknowledged_by"] == "ana"  # acknowledged, still out: kept
    book.observe(housekeeping(6, gpu_temp_c=90.0))  # worse: red, to be acknowledged again
    (alarm,) = book.listing()
    assert (alarm["level"], alarm["acknowledged_by"]) == ("red", None)
    assert book.shelve(KEY, 30) is True and book.listing()[0]["shelved"] is True
    assert book.acknowledge("HOUSEKEEPING.nothing", "ana") is False
