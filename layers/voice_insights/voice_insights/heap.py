"""The Python heap of a long-lived Lambda execution environment."""

import gc
from collections.abc import Callable
from functools import wraps


def keep_out_of_full_collections() -> None:
    """Move every object alive now (modules, models, clients: they live as long as the execution
    environment) out of reach of the cyclic garbage collector (``gc.freeze``). Its full collections
    otherwise walk them all (about 126,000 objects in make bench's participant function) every few
    batches: +40-50 ms of CPU on one batch in five or six. Called once, when a function has built
    its clients."""
    gc.freeze()


def without_cycle_collection[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Run ``handler`` with the cyclic garbage collector paused, and resume it after, whatever happens.

    Reference counting frees a batch's objects when the batch is done; meanwhile the collector only
    walks them, about 20 times per 1,000 participant summaries (8-12 ms of CPU, make bench). Cycles
    made during the batch wait for the collector's next run after it, so they cost memory for one
    batch at most."""

    @wraps(handler)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():  # paused already (nested): leave it to the outer call
            return handler(*args, **kwargs)
        gc.disable()
        try:
            return handler(*args, **kwargs)
        finally:
            gc.enable()

    return paused
