"""The ground segment: ground station, operator commands and (later) console and archive.

It loads the flight dictionary and protocol, as a real ground system loads the flight dictionary;
flight never imports it.
"""
