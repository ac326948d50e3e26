"""Environment models of the emulated spacecraft: orbit, power (EPS) and thermal environment."""
