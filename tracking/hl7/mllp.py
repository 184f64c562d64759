"""The MLLP listener: HL7 v2 over TCP, one message per block (0x0B ... 0x1C 0x0D), each answered
with its ACK in a block before the next is read (the sender waits for it).

python-hl7's asyncio server reads the blocks; the database work (tracking/hl7/intake.py) runs
off the event loop, in WORKUP_HL7_PROCESSES worker processes (tracking/hl7/intake_processes.py)
or, with 0, on a small thread pool in this process (WORKUP_DB_POOL_SIZE threads), so many
connections are served at once, each in order. A block larger than WORKUP_HL7_MAX_MESSAGE_BYTES is answered
AR and its connection closed; bytes outside the framing close the connection (the sender
reconnects and sends again).

Stopping (SIGTERM, SIGINT, or `workup serve` ending) closes the port, drops idle connections,
lets a message being stored finish and get its ACK (up to STOP_GRACE_SECONDS), then closes the
rest. A message cut off before its ACK was sent is sent again by its sender and found as a
duplicate if it had been stored. Logs carry message ids, control ids, outcomes and peer
addresses, never the content.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server
from sqlalchemy import Engine

from tracking.cases.errors import InvalidInput
from tracking.hl7.ack import AckCode, acknowledgement
from tracking.hl7.decoding import Problem
from tracking.hl7.intake import Interpreter, receive
from tracking.hl7.intake_processes import IntakeProcesses

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Listener:
    """An MLLP server on one event loop: `await start()`, then `await stop()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        host: str,
        port: int,
        max_message_bytes: int,
        workers: int = 5,
        processes: int = 0,
        interpreter: Interpreter | None = None,
        clock: Callable[[], datetime] = _wall_clock,
    ):
        """`processes` > 0: that many intake processes (the default interpreter only); 0: `workers`
        threads in this process, with `interpreter` if given."""
        if processes and interpreter is not None:
            raise ValueError("a custom interpreter runs in the listener's process: use processes=0")
        self.engine = engine
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.interpreter = interpreter
        self.clock = clock
        self.processes = processes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7-intake")
        self._intake: IntakeProcesses | None = None
        self._server: asyncio.Server | None = None
        self._idle: set[asyncio.Task] = set()  # waiting for a message
        self._busy: set[asyncio.Task] = set()  # storing a message or sending its ACK
        self._stopping = False

    async def start(self) -> tuple[str, int]:
        """Listen; the address actually bound (port 0 picks a free one). The intake processes are
        started before it returns (a message arriving meanwhile waits for them)."""
        if self.processes and self._intake is None:
            self._intake = IntakeProcesses(self.engine, self.processes)
        try:
            self._server = await start_hl7_server(self._connected, self.host, self.port, limit=self.max_message_bytes)
        except OSError as error:  # the port is taken, the address is not this machine's
            if self._intake is not None:
                self._intake.shutdown()
            raise InvalidInput(f"cannot listen for HL7 on {self.host}:{self.port}: {error.strerror or error}") from None
        if self._intake is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._intake.warm_up)
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("HL7 MLLP listener on %s:%s", host, port)
        return host, port

    async def _connected(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        self._idle.add(task)
        try:
            while not self._stopping:
                block = await self._next_block(reader, writer, peer)
                if block is None:
                    break
                self._idle.discard(task)
                self._busy.add(task)
                ack = await self._receive(block)
                writer.writeblock(ack)
                await writer.drain()
                self._busy.discard(task)
                self._idle.add(task)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._idle.discard(task)
            self._busy.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _receive(self, block: bytes) -> bytes:
        """The ACK for one message, stored and interpreted off the event loop."""
        now = self.clock()
        if self._intake is None:
            work = functools.partial(receive, self.engine, block, now=now, interpreter=self.interpreter)
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        generation = self._intake.generation
        try:
            return await asyncio.wrap_future(self._intake.submit(block, now))
        except BrokenProcessPool:  # a worker died, before or while it held this message
            return self._intake.replace_broken(generation, block, now)

    async def _next_block(self, reader: HL7StreamReader, writer: HL7StreamWriter, peer: object) -> bytes | None:
        """The next framed message, or None when the connection should close."""
        try:
            return await reader.readblock()
        except asyncio.IncompleteReadError as end:
            if end.partial.strip():
                log.warning("HL7 connection %s closed in the middle of a message (no ACK sent)", peer)
            return None
        except InvalidBlockError:
            log.warning("HL7 connection %s sent bytes outside the MLLP framing; closing it", peer)
            return None
        except ValueError:  # over the reader's limit
            log.warning("HL7 connection %s sent a message over %s bytes; answered AR", peer, self.max_message_bytes)
            problem = Problem(100, f"The message is larger than {self.max_message_bytes} bytes.")
            writer.writeblock(acknowledgement(None, AckCode.rejected, now=self.clock(), problem=problem))
            await writer.drain()
            return None

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop listening; messages being stored get their ACK (within `grace`), idle connections close."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task in list(self._idle):
            task.cancel()
        if self._busy:
            await asyncio.wait(list(self._busy), timeout=grace)
        for task in list(self._busy | self._idle):
            task.cancel()
        remaining = [task for task in self._busy | self._idle if not task.done()]
        if remaining:
            await asyncio.wait(remaining, timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()
        if self._intake is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._intake.shutdown)
        await asyncio.get_running_loop().run_in_executor(None, functools.partial(self._pool.shutdown, wait=True))
        log.info("HL7 MLLP listener stopped")


def listener_from_settings(
    engine: Engine, *, host: str | None = None, port: int | None = None, processes: int | None = None
) -> Listener:
    from tracking.settings import get_settings

    settings = get_settings()
    return Listener(engine, host=host or settings.hl7_host, port=settings.hl7_port if port is None else port,
                    max_message_bytes=settings.hl7_max_message_bytes, workers=settings.pool_size,
                    processes=settings.hl7_processes if processes is None else processes)  # fmt: skip


def serve_until_signalled(listener: Listener, started: Callable[[str, int], None] | None = None) -> None:
    """Run `listener` in this (main) thread until SIGTERM or SIGINT, then stop it gracefully."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        host, port = await listener.start()
        if started is not None:
            started(host, port)
        await stop.wait()
        await listener.stop()

    asyncio.run(main())


class ListenerThread:
    """A listener on an event loop of its own in a background thread (for `workup serve` and the tests)."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hl7-listener", daemon=True)

    def start(self) -> tuple[str, int]:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self.address is not None
        return self.address

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.address = loop.run_until_complete(self.listener.start())
        except BaseException as error:  # the port is taken, the host unknown: start() raises it
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        if self._loop is None or self._error is not None or not self._thread.is_alive():
            return
        loop = self._loop

        async def stopping() -> None:
            try:
                await self.listener.stop(grace)
            finally:
                loop.stop()

        asyncio.run_coroutine_threadsafe(stopping(), loop)
        self._thread.join(timeout=grace + 10)
