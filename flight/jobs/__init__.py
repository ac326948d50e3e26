"""Job intake and execution: manifests, the queue and the processes that run jobs."""
