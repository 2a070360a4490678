"""The Python heap of a long-lived Lambda execution environment."""

import gc
from collections.abc import Callable
from functools import wraps


def keep_out_of_full_collections() -> None:
    """``gc.freeze``: the objects alive now (modules, models, clients) live as long as the execution environment,
    so the collector's full collections need not walk them every few batches. Call once the clients are built."""
    gc.freeze()


def without_cycle_collection[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Run ``handler`` with the cyclic garbage collector paused, and resume it after, whatever happens.

    Reference counting frees a batch's objects when it is done, so the collector would only walk them;
    cycles made meanwhile wait for its next run after the batch, costing memory for one batch at most."""

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
