"""The ``tap-marketo-bulk`` command: what runs before the tap's modules are imported.

Importing singer-sdk and its dependencies creates about 50,000 objects that live as long as
the process, and almost no garbage; yet the cyclic garbage collector walks them some 130
times while they are created: 0.05 s of CPU, a sixth of the import, on every run (counted
with ``gc.callbacks``). So the collector is off during the import. The imported objects are
then frozen (``gc.freeze``): later collections skip them.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import types


def import_tap() -> types.ModuleType:
    """:mod:`tap_marketo_bulk.tap`, imported with the collector off, its objects frozen."""
    gc.disable()
    try:
        from tap_marketo_bulk import tap
    finally:
        gc.freeze()
        gc.enable()
    return tap


def main() -> None:
    """The ``tap-marketo-bulk`` command: the SDK's command, then an exit that skips the
    interpreter's teardown.

    Freeing every module and object one by one takes Python about 0.1 s after a run, while a
    finished tap has nothing left to release gracefully: its output and logs are flushed
    here, and the kernel closes files and sockets. Errors end as the command ends them (our
    excepthook's one line, exit code 1).
    """
    tap = import_tap()
    code: int = 0
    try:
        tap.TapMarketoBulk.cli()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(f"{exc.code}\n")
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:  # reported as the interpreter reports an uncaught exception
        sys.excepthook(type(exc), exc, exc.__traceback__)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: as Python reports a failed final flush
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    main()
