"""The bus emulator's radio in bus time: rate, delay, loss and the queue limit."""

import random

from hil.radio import RadioConfig, RadioPath


def test_immediate_only_without_impairments():
    assert RadioConfig().immediate
    assert not RadioConfig(delay_s=1).immediate
    assert not RadioConfig(rate_bps=9600).immediate
    assert not RadioConfig(loss=0.01).immediate


def test_rate_and_delay_set_when_packets_arrive():
    path = RadioPath(RadioConfig(rate_bps=8000, delay_s=2), 8000, random.Random(1))
    for _ in range(3):
        path.admit(bytes(500), now=10.0)  # 0.5 s each at 8 kbit/s
    assert path.due(12.4) == []
    assert len(path.due(12.5)) == 1  # serialised by 10.5, delayed to 12.5
    assert len(path.due(13.5)) == 2


def test_a_full_queue_drops_and_counts():
    path = RadioPath(RadioConfig(rate_bps=8000, queue_s=1.0), 8000, random.Random(1))
    for _ in range(5):
        path.admit(bytes(1000), now=0.0)  # 1 s each: the third would wait 2 s
    assert (path.count, path.dropped_queue) == (2, 3)


def test_losses_follow_the_seed():
    def run(seed):
        path = RadioPath(RadioConfig(loss=0.2), None, random.Random(seed))
        for i in range(1000):
            path.admit(i.to_bytes(2, "big"), now=0.0)
        return path.lost, path.due(0.0)

    lost, delivered = run(7)
    assert 150 <= lost <= 250 and lost + len(delivered) == 1000
    assert run(7) == (lost, delivered)
