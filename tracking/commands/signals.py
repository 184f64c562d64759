"""Long-running commands (`workup serve`, `workup scheduler`, `workup worker`) stop on SIGTERM or SIGINT."""

from __future__ import annotations

import signal


def run_until_signalled(start, stop, run=None) -> None:
    """start(), then run() (default: wait), until SIGTERM or SIGINT; stop() however it ends.

    The handlers go in before start(), so a signal during a slow start (the Prefect child takes
    seconds) stops cleanly too. uvicorn, inside run(), installs its own handlers, shuts down on the
    signal, puts ours back and raises the signal again: it lands here, and stop() runs.
    """

    class Stopped(BaseException):
        pass

    signals = (signal.SIGINT, signal.SIGTERM)

    def stopping(*_) -> None:
        for signum in signals:  # a second signal must not cut stop() short
            signal.signal(signum, signal.SIG_IGN)
        raise Stopped

    for signum in signals:
        signal.signal(signum, stopping)
    try:
        start()
        if run is not None:
            run()
        else:
            while True:
                signal.pause()
    except Stopped:
        pass
    finally:
        for signum in signals:
            signal.signal(signum, signal.SIG_IGN)
        stop()
