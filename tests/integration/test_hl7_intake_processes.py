"""The listener with intake processes (WORKUP_HL7_PROCESSES): the real interpreter in worker
processes behind one MLLP port; many connections each get their own ACKs in order and every
message is stored once; a killed worker costs the message in hand an AE (sent again, it is stored
once) and new workers take over; stopping the listener stops its workers, and killing it ends
them within a second."""

from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.hl7_support import MllpClient, ack_code, echoed_control_id, message
from tests.integration.test_cli import WORKUP
from tests.integration.test_hl7_intake import rows, wait_until
from tracking.hl7.mllp import Listener, ListenerThread


@pytest.fixture
def processes_listener(committed):
    listener = Listener(committed, host="127.0.0.1", port=0, max_message_bytes=1024 * 1024, processes=2)
    thread = ListenerThread(listener)
    address = thread.start()
    yield listener, address
    thread.stop(grace=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_many_connections_through_intake_processes_each_get_their_acks_in_order(processes_listener, committed):
    listener, address = processes_listener
    workers = listener._intake.pids()
    assert len(workers) == 2 and os.getpid() not in workers

    def sender(number: int) -> list[tuple[str, str]]:
        with MllpClient(address) as client:
            answers = [client.exchange(message(f"P{number}-{index}")) for index in range(12)]
        return [(ack_code(ack), echoed_control_id(ack)) for ack in answers]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answered = list(pool.map(sender, range(6)))
    for number, acks in enumerate(answered):
        assert acks == [("AA", f"P{number}-{index}") for index in range(12)]
    stored = rows(committed)
    assert sorted(row["control_id"] for row in stored) == sorted(f"P{n}-{i}" for n in range(6) for i in range(12))
    assert all(row["detail"] != "Received; not interpreted yet." for row in stored), "each was interpreted"


def test_a_killed_intake_process_costs_one_ae_and_new_processes_take_over(processes_listener, committed):
    listener, address = processes_listener
    with MllpClient(address) as client:
        assert ack_code(client.exchange(message("K-1"))) == "AA"
        killed = listener._intake.pids()[0]
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: listener._intake._pool._broken, "the pool to notice its dead worker")
        first = client.exchange(message("K-2"))
        assert (ack_code(first), echoed_control_id(first)) == ("AE", "K-2"), "not stored: send it again"
        assert ack_code(client.exchange(message("K-2"))) == "AA"
        assert ack_code(client.exchange(message("K-3"))) == "AA"
    wait_until(lambda: len(listener._intake.pids()) == 2, "new workers to start")
    assert killed not in listener._intake.pids()
    assert [row["control_id"] for row in rows(committed)] == ["K-1", "K-2", "K-3"]


def test_stopping_the_listener_stops_its_intake_processes(committed):
    listener = Listener(committed, host="127.0.0.1", port=0, max_message_bytes=65536, processes=2)
    thread = ListenerThread(listener)
    address = thread.start()
    with MllpClient(address) as client:
        assert ack_code(client.exchange(message("S-1"))) == "AA"
    workers = listener._intake.pids()
    thread.stop(grace=5)
    assert not any(_alive(pid) for pid in workers)


def test_a_custom_interpreter_needs_threads_not_processes(committed):
    with pytest.raises(ValueError, match="processes=0"):
        Listener(committed, host="127.0.0.1", port=0, max_message_bytes=65536, processes=2, interpreter=lambda *a: None)


def _children(pid: int) -> list[int]:
    """Every process whose parent is `pid` (whichever of its threads started it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry))
    return found


def test_the_intake_processes_end_when_the_listener_is_killed(database_url, committed):
    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen([WORKUP, "hl7", "listen", "--host", "127.0.0.1", "--port", "0", "--processes", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = process.stdout.readline()
        assert "Listening for HL7 over MLLP on 127.0.0.1:" in line, line + process.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with MllpClient(("127.0.0.1", port)) as client:
            assert ack_code(client.exchange(message("X-1"))) == "AA"
        children = _children(process.pid)
        assert len(children) >= 2, "two intake processes (and multiprocessing's resource tracker)"
        process.kill()
        process.wait(timeout=10)
        wait_until(lambda: not any(_alive(pid) for pid in children), "the orphaned intake processes to exit")
    finally:
        if process.poll() is None:
            process.kill()
