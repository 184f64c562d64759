"""The ACK: swapped sender and receiver, MSA-1 and MSA-2, ERR by version, in the message's character set;
and splitting import files into messages. No database."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest

from tests.hl7_support import corpus, message
from tracking.cases.errors import InvalidInput
from tracking.hl7.ack import AckCode, acknowledgement
from tracking.hl7.decoding import Malformed, Problem, decode
from tracking.hl7.files import split_messages

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def parsed(ack: bytes, codec: str = "latin-1") -> hl7.Message:
    return hl7.parse(ack.decode(codec))


def test_aa_swaps_sender_and_receiver_and_echoes_the_control_id():
    decoded = decode(corpus("oru_r01_lf.hl7"))
    ack = parsed(acknowledgement(decoded.header, AckCode.accepted, now=NOW, codec=decoded.codec))
    assert [ack["MSH.F3"], ack["MSH.F4"], ack["MSH.F5"], ack["MSH.F6"]] == ["WORKUP", "RIVERSIDE", "RIS", "NORTHSIDE"]
    assert (ack["MSH.F7"], ack["MSH.F9.R1.C1"], ack["MSH.F9.R1.C2"]) == ("20260302093000", "ACK", "R01")
    assert (ack["MSH.F11"], ack["MSH.F12"]) == ("P", "2.5.1")
    assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AA", "NS-ORU-0001")
    assert len(ack["MSH.F10"]) <= 20 and ack["MSH.F10"] != "NS-ORU-0001"
    with pytest.raises(KeyError):
        ack.segment("ERR")


def test_an_ack_control_id_is_new_each_time():
    decoded = decode(corpus("oru_r01_lf.hl7"))
    first, second = (parsed(acknowledgement(decoded.header, AckCode.accepted, now=NOW)) for _ in range(2))
    assert first["MSH.F10"] != second["MSH.F10"]


def test_ar_from_version_2_5_has_err_2_3_4_and_8():
    malformed = _malformed(corpus("unknown_charset.hl7"))
    ack = parsed(acknowledgement(malformed.header, AckCode.rejected, now=NOW, problem=malformed.problem))
    assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AR", "NS-ORU-0012")
    assert (ack["ERR.F2.R1.C1"], ack["ERR.F2.R1.C2"], ack["ERR.F2.R1.C3"]) == ("MSH", "1", "18")
    assert (ack["ERR.F3.R1.C1"], ack["ERR.F3.R1.C3"], ack["ERR.F4"]) == ("103", "HL70357", "E")
    assert "EBCDIC" in ack["ERR.F8"]


def test_ar_before_version_2_5_has_err_1_and_the_text_in_msa_3():
    malformed = _malformed(corpus("missing_control_id_v23.hl7"))
    ack = parsed(acknowledgement(malformed.header, AckCode.rejected, now=NOW, problem=malformed.problem))
    assert (ack["MSA.F1"], ack["MSA.F2"], ack["MSH.F12"]) == ("AR", "", "2.3")
    assert "MSH-10" in ack["MSA.F3"]
    assert (ack["ERR.F1.R1.C1"], ack["ERR.F1.R1.C3"], ack["ERR.F1.R1.C4.S1"]) == ("MSH", "10", "101")


def test_ae_carries_err_207():
    decoded = decode(message("AE-1"))
    ack = parsed(acknowledgement(decoded.header, AckCode.error, now=NOW, problem=Problem(207, "Send it again.")))
    assert (ack["MSA.F1"], ack["MSA.F2"], ack["ERR.F3.R1.C1"], ack["ERR.F8"]) == ("AE", "AE-1", "207", "Send it again.")


def test_err_text_with_delimiters_is_escaped_in_the_senders_own_delimiters():
    decoded = decode(b"MSH#*$!@#RIS#N#W#R#2026##ORU*R01#DL-1#P#2.5.1\rPID#1\r")
    ack = acknowledgement(decoded.header, AckCode.rejected, now=NOW, problem=Problem(200, "a#b*c$d!e@f"))
    assert ack.startswith(b"MSH#*$!@#W#R#RIS#N#")
    assert parsed(ack)["ERR.F8"] == "a#b*c$d!e@f"


def test_an_unreadable_message_gets_an_ar_with_default_delimiters():
    ack = parsed(acknowledgement(None, AckCode.rejected, now=NOW, problem=Problem(100, "No MSH.")))
    assert (ack["MSA.F1"], ack["MSA.F2"], ack["MSH.F12"], ack["ERR.F3.R1.C1"]) == ("AR", "", "2.5.1", "100")


@pytest.mark.parametrize(("name", "codec"), [("adt_a08_latin1.hl7", "iso8859-1"), ("siu_s12_utf8.hl7", "utf-8")])
def test_the_ack_is_in_the_messages_character_set_and_declares_it(name, codec):
    raw = corpus(name).replace(b"|RIS|NORTHSIDE|", "|RIS|Hôpital Nord|".encode(codec), 1)
    decoded = decode(raw)
    ack = acknowledgement(decoded.header, AckCode.accepted, now=NOW, codec=decoded.codec)
    assert "|Hôpital Nord|".encode(codec) in ack, "the sender's facility comes back in its own bytes"
    assert parsed(ack, codec)["MSH.F18"] == decoded.header.charset


def test_a_refused_message_gets_its_header_bytes_back_exactly():
    raw = corpus("unknown_charset.hl7").replace(b"|NORTHSIDE|", "|Hôpital|".encode(), 1)
    malformed = _malformed(raw)
    ack = acknowledgement(malformed.header, AckCode.rejected, now=NOW, codec=malformed.codec, problem=malformed.problem)
    assert "|Hôpital|".encode() in ack


def _malformed(raw: bytes) -> Malformed:
    with pytest.raises(Malformed) as caught:
        decode(raw)
    return caught.value


def test_a_batch_file_splits_into_its_messages_without_the_envelope():
    messages = split_messages(corpus("batch.hl7"), name="batch.hl7")
    assert [decode(raw).control_id for raw in messages] == ["NS-BATCH-0001", "NS-BATCH-0002", "NS-BATCH-0003"]
    assert all(b"BHS" not in raw and b"FTS" not in raw for raw in messages)


def test_an_mllp_framed_file_splits_into_its_blocks():
    messages = split_messages(corpus("framed.mllp"), name="framed.mllp")
    assert [decode(raw).control_id for raw in messages] == ["NS-MLLP-0014", "NS-MLLP-0015"]


def test_a_file_keeps_each_messages_bytes_as_they_were():
    data = corpus("oru_r01_crlf.hl7") + b"\r\n" + corpus("adt_a08_latin1.hl7")
    first, second = split_messages(data, name="two.hl7")
    assert first == corpus("oru_r01_crlf.hl7") + b"\r\n" and second == corpus("adt_a08_latin1.hl7")
    assert decode(second).message["PID.F5.R1.C1"] == "Müller"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "no HL7 message found"),
        (b"\n\n  \n", "no HL7 message found"),
        (corpus("malformed_no_msh.hl7"), "line 1 comes before any MSH segment"),
        (b"garbage\x0b" + message("F1") + b"\x1c\r", "bytes outside the MLLP blocks at offset 0"),
        (b"\x0b" + message("F2"), "has no end"),
    ],
)
def test_a_file_that_is_not_hl7_is_refused_naming_the_file(data, words):
    with pytest.raises(InvalidInput, match=words) as caught:
        split_messages(data, name="odd.hl7")
    assert str(caught.value).startswith("odd.hl7: ")
