"""GPU backends behind one interface: NVML on a real GPU, or a simulated H100 for the bench."""
