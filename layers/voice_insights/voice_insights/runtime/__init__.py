"""What every function shares at run time: settings, logging and metrics, the heap, stream batches, reports."""
