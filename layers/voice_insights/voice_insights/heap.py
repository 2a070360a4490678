"""The Python heap of a long-lived Lambda execution environment."""

import gc


def keep_out_of_full_collections() -> None:
    """Move every object alive now (modules, models, clients: they live as long as the execution
    environment) out of reach of the cyclic garbage collector (``gc.freeze``). Its full collections
    otherwise walk them all (about 126,000 objects in make bench's participant function) every few
    batches: +40-50 ms of CPU on one batch in five or six. Called once, when a function has built
    its clients."""
    gc.freeze()
