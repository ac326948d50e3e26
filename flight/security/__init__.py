"""Security of the payload's boundaries: authenticated telecommands (tc_auth.py) with their keys
(keys.py) and anti-replay state (replay.py)."""
