"""The space link's data link layer as the bench's spacecraft and the ground station both carry
it: USLP transfer frames with spacecraft ids and virtual channels (native/uslp.py does the octets),
and COP-1 for the uplink, FOP-1 on the ground and FARM-1 on board (docs/icd.md section 15).

The payload controller does not use it (its UART carries COBS-framed packets): it lives here
because flight owns the protocol that hil and ground share."""
