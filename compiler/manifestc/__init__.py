"""manifestc: compile a pipeline manifest into linted AWS CloudFormation."""

import contextlib
import gc

__version__ = "0.1.0"


@contextlib.contextmanager
def collector_off():
    """The cyclic garbage collector off for a block that allocates long-lived objects and leaves
    little garbage (imports, data tables, a template's objects): it would walk that growing heap
    again and again. It is on again after, as it was."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
