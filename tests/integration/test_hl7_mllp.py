"""The MLLP listener over real sockets on loopback: ACKs with the control id, AR with ERR, duplicates
stored once (also from two connections at once), AE when the database is down, character sets
round trip, many connections, oversize and badly framed input, a graceful stop; and `workup hl7
listen` as a process stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests.hl7_support import END, START, FakeInterpreter, MllpClient, corpus, message, parse_ack
from tests.integration.test_cli import WORKUP
from tests.integration.test_hl7_intake import HeldInterpreter, deliver_twice_at_once, rows, wait_until
from tracking.hl7.mllp import Listener, ListenerThread


@pytest.fixture
def listen(committed):
    """Start a listener on a free loopback port: listen(engine=None, interpreter=None, **options) -> (host, port)."""
    started: list[ListenerThread] = []

    def start(engine=None, interpreter=None, **options):
        interpreter = interpreter or FakeInterpreter()
        options = {"max_message_bytes": 1024 * 1024, "workers": 4, **options}
        thread = ListenerThread(Listener(engine or committed, host="127.0.0.1", port=0, interpreter=interpreter,
                                         **options))  # fmt: skip
        started.append(thread)
        return thread.start()

    yield start
    for thread in started:
        thread.stop(grace=5)


def test_each_valid_message_gets_aa_with_its_control_id_and_a_malformed_one_ar_with_err(listen, committed):
    address = listen()
    sent = ["oru_r01_lf.hl7", "oru_r01_crlf.hl7", "adt_a08_latin1.hl7", "siu_s12_utf8.hl7", "orm_o01_minimal.hl7",
            "adt_a08_latin1_undeclared.hl7", "unknown_charset.hl7", "missing_control_id_v23.hl7",
            "malformed_no_msh.hl7"]  # fmt: skip
    with MllpClient(address) as client:
        acks = {name: parse_ack(client.exchange(corpus(name))) for name in sent}
    for name in sent[:6]:
        assert acks[name]["MSA.F1"] == "AA", name
    assert [acks[name]["MSA.F2"] for name in sent[:6]] == [
        "NS-ORU-0001", "NS-ORU-0002", "NS-ADT-0003", "NS-SIU-0004", "NS-ORM-0006", "NS-ADT-0005",
    ]  # fmt: skip
    for name, code in [("unknown_charset.hl7", "103"), ("malformed_no_msh.hl7", "100")]:
        assert (acks[name]["MSA.F1"], acks[name]["ERR.F3.R1.C1"]) == ("AR", code), name
    assert acks["missing_control_id_v23.hl7"]["ERR.F1.R1.C4.S1"] == "101"
    stored = rows(committed)
    assert len(stored) == len(sent), "every message is kept, the rejected ones too"
    assert sorted(row["outcome"] for row in stored).count("rejected") == 3


def test_the_ack_comes_back_in_the_messages_character_set(listen):
    address = listen()
    raw = corpus("adt_a08_latin1.hl7").replace(b"|WORKUP|RIVERSIDE|", "|WORKUP|Clínica Río|".encode("latin-1"))
    utf8 = corpus("siu_s12_utf8.hl7").replace(b"|WORKUP|RIVERSIDE|", "|WORKUP|Clínica Río|".encode())
    with MllpClient(address) as client:
        latin_ack, utf8_ack = client.exchange(raw), client.exchange(utf8)
    assert "|WORKUP|Clínica Río|RIS|".encode("latin-1") in latin_ack
    assert parse_ack(latin_ack, "latin-1")["MSH.F18"] == "8859/1"
    assert "|WORKUP|Clínica Río|RIS|".encode() in utf8_ack
    assert parse_ack(utf8_ack, "utf-8")["MSH.F18"] == "UNICODE UTF-8"


def test_a_duplicate_on_the_same_connection_is_aa_and_stored_once(listen, committed):
    fake = FakeInterpreter()
    address = listen(interpreter=fake)
    with MllpClient(address) as client:
        first, second = client.exchange(message("M-DUP")), client.exchange(message("M-DUP"))
    assert [parse_ack(ack)["MSA.F1"] for ack in (first, second)] == ["AA", "AA"]
    assert len(fake.calls) == 1 and [row["duplicates"] for row in rows(committed)] == [1]


@pytest.mark.race
def test_a_duplicate_from_two_connections_at_once_is_stored_and_interpreted_once(listen, committed):
    held = HeldInterpreter()
    address = listen(interpreter=held)
    acks: dict[str, bytes] = {}

    def deliver(name: str) -> None:
        with MllpClient(address) as client:
            acks[name] = client.exchange(message("M-RACE"))

    deliver_twice_at_once(committed, held, deliver)
    assert [(parse_ack(acks[name])["MSA.F1"], parse_ack(acks[name])["MSA.F2"]) for name in ("first", "second")] == [
        ("AA", "M-RACE"), ("AA", "M-RACE"),
    ]  # fmt: skip
    assert len(held.calls) == 1 and [row["duplicates"] for row in rows(committed)] == [1]


def test_many_connections_at_once_each_get_their_own_acks_in_order(listen, committed):
    address = listen(workers=3)

    def sender(number: int) -> list[str]:
        with MllpClient(address) as client:
            return [parse_ack(client.exchange(message(f"C{number}-{index}")))["MSA.F2"] for index in range(5)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(sender, range(12)))
    assert results == [[f"C{number}-{index}" for index in range(5)] for number in range(12)]
    assert len(rows(committed)) == 60


def test_a_database_that_is_down_gets_ae_over_the_wire(listen):
    down = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 3})
    try:
        address = listen(engine=down)
        with MllpClient(address) as client:
            ack = parse_ack(client.exchange(message("M-DOWN")))
            assert (ack["MSA.F1"], ack["MSA.F2"], ack["ERR.F3.R1.C1"]) == ("AE", "M-DOWN", "207")
            assert parse_ack(client.exchange(message("M-DOWN-2")))["MSA.F1"] == "AE", "the connection stays usable"
    finally:
        down.dispose()


def test_a_message_over_the_size_limit_is_answered_ar_and_the_connection_closed(listen, committed):
    address = listen(max_message_bytes=2048)
    big = message("M-BIG", body=("PID|1", "OBX|1|TX|||" + "x" * 5000))
    with MllpClient(address) as client:
        client.send_raw(START + big + END)
        ack = parse_ack(client.read_block())
        assert (ack["MSA.F1"], ack["ERR.F3.R1.C1"]) == ("AR", "100") and "2048 bytes" in ack["ERR.F8"]
        assert client.read_block() is None
    with MllpClient(address) as client:
        assert parse_ack(client.exchange(message("M-SMALL")))["MSA.F1"] == "AA", "the listener goes on"


def test_bytes_outside_the_framing_close_the_connection_without_storing_anything(listen, committed):
    address = listen()
    with MllpClient(address) as client:
        client.send_raw(message("M-UNFRAMED") + END)
        assert client.read_block() is None
    assert rows(committed) == []


def test_stopping_closes_the_port_after_answering_the_message_in_hand(committed):
    held = HeldInterpreter()
    thread = ListenerThread(Listener(committed, host="127.0.0.1", port=0, interpreter=held, max_message_bytes=65536))
    address = thread.start()
    idle = MllpClient(address)
    acks: list[bytes] = []
    busy = threading.Thread(target=lambda: acks.append(MllpClient(address).exchange(message("M-STOP"))))
    busy.start()
    assert held.entered.wait(timeout=20)
    stopping = threading.Thread(target=thread.stop, kwargs={"grace": 20})
    stopping.start()
    wait_until(lambda: not _accepts(address), "the port to close")
    held.release.set()
    busy.join(timeout=30)
    stopping.join(timeout=40)
    assert [parse_ack(ack)["MSA.F1"] for ack in acks] == ["AA"], "the message being stored got its ACK"
    assert idle.read_block() is None, "an idle connection is closed"
    idle.close()
    assert [row["control_id"] for row in rows(committed)] == ["M-STOP"]


def _accepts(address) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
        return True
    except OSError:
        return False


def test_workup_hl7_listen_serves_until_sigterm(database_url, committed):
    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen([WORKUP, "hl7", "listen", "--host", "127.0.0.1", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = process.stdout.readline()
        assert "Listening for HL7 over MLLP on 127.0.0.1:" in line, line + process.stderr.read()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with MllpClient(("127.0.0.1", port)) as client:
            ack = parse_ack(client.exchange(message("M-CLI")))
        assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AA", "M-CLI")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    with committed.connect() as connection:
        assert connection.execute(text("SELECT control_id FROM hl7_messages")).scalars().all() == ["M-CLI"]


def test_workup_serve_starts_the_listener_when_a_port_is_set_and_stops_it_with_itself(database_url, committed):
    web_port, hl7_port = _free_port(), _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "WORKUP_SCHEDULER_ENABLED": "false",
           "WORKUP_HL7_PORT": str(hl7_port)}  # fmt: skip
    process = subprocess.Popen([WORKUP, "serve", "--port", str(web_port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_until(lambda: _accepts(("127.0.0.1", hl7_port)) or process.poll() is not None, "the HL7 port to open")
        assert process.poll() is None, process.stdout.read()
        with MllpClient(("127.0.0.1", hl7_port)) as client:
            ack = parse_ack(client.exchange(message("M-SERVE")))
        assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AA", "M-SERVE")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        output = process.stdout.read()
        assert f"Listening for HL7 over MLLP on 127.0.0.1:{hl7_port}" in output and "Traceback" not in output
        assert not _accepts(("127.0.0.1", hl7_port)), "the listener stopped with serve"
    finally:
        if process.poll() is None:
            process.kill()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
