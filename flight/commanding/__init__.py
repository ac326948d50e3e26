"""The controller's command path, in the order a telecommand takes it: admission (framing, CRC,
authentication and their counters), dispatch from the dictionary (acceptance apart from
execution), and the PUS 1 verification reports of both. The handlers themselves live beside the
subsystems they drive (flight/jobs/commands.py, flight/gpu/commands.py, ...)."""
