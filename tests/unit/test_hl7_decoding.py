"""Reading HL7 bytes as real feeds send them: terminators, character sets, escapes, Z-segments, PID-3,
and the refusals (with the HL7 error code each one is answered with). No database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hl7_support import corpus, message
from tracking.hl7.ack import escaped
from tracking.hl7.decoding import Malformed, PatientIdentifier, decode, patient_identifiers, read_header


def refusal(raw: bytes) -> Malformed:
    with pytest.raises(Malformed) as caught:
        decode(raw)
    return caught.value


@pytest.mark.parametrize(
    ("name", "codec", "control_id", "kind", "z_segments"),
    [
        ("oru_r01_lf.hl7", "utf-8", "NS-ORU-0001", ("ORU", "R01"), 1),
        ("oru_r01_crlf.hl7", "utf-8", "NS-ORU-0002", ("ORU", "R01"), 1),
        ("adt_a08_latin1.hl7", "iso8859-1", "NS-ADT-0003", ("ADT", "A08"), 0),
        ("siu_s12_utf8.hl7", "utf-8", "NS-SIU-0004", ("SIU", "S12"), 0),
        ("adt_a08_latin1_undeclared.hl7", "iso8859-1", "NS-ADT-0005", ("ADT", "A08"), 0),
        ("orm_o01_minimal.hl7", "utf-8", "NS-ORM-0006", ("ORM", "O01"), 0),
    ],
)
def test_the_corpus_reads(name, codec, control_id, kind, z_segments):
    decoded = decode(corpus(name))
    assert (decoded.codec, decoded.control_id, decoded.z_segments) == (codec, control_id, z_segments)
    assert (decoded.header.message_type, decoded.header.trigger_event) == kind
    assert [str(segment[0]) for segment in decoded.message][0] == "MSH"
    assert not any(str(segment[0]).startswith("Z") for segment in decoded.message), "Z-segments are left out"


def test_lf_and_crlf_terminators_read_like_cr():
    lf, crlf = decode(corpus("oru_r01_lf.hl7")), decode(corpus("oru_r01_lf.hl7").replace(b"\n", b"\r\n"))
    cr = decode(corpus("oru_r01_lf.hl7").replace(b"\n", b"\r"))
    assert str(lf.message) == str(crlf.message) == str(cr.message)
    assert [str(segment[0]) for segment in lf.message] == ["MSH", "PID", "PV1", "ORC", "OBR", "OBX", "OBX"]


def test_escaped_delimiters_stay_escaped_for_the_interpreter_and_unescape_on_reading():
    decoded = decode(corpus("oru_r01_lf.hl7"))
    impression = decoded.message.segments("OBX")(2)(5)
    assert "\\T\\" in str(impression) and "\\F\\" in str(impression), "escape sequences are kept as they came"
    assert decoded.message["OBX2.F5"] == (
        "Grouped calcifications&fine pleomorphic| left UOQ. BI-RADS 4B\\suspicious^biopsy"
    )


def test_latin1_names_read_from_msh18_8859_1():
    decoded = decode(corpus("adt_a08_latin1.hl7"))
    assert decoded.message["PID.F5.R1.C1"] == "Müller"
    assert decoded.message["PID.F5.R1.C2"] == "Renée"
    assert decoded.message["PID.F11.R1.C1"] == "Große Straße 5"
    assert decoded.header.charset == "8859/1"


def test_utf8_names_read_from_msh18_unicode_utf8():
    decoded = decode(corpus("siu_s12_utf8.hl7"))
    assert (decoded.message["PID.F5.R1.C1"], decoded.message["PID.F5.R1.C2"], decoded.message["PID.F5.R1.C3"]) == (
        "Øberg",
        "Zoë",
        "李",
    )


def test_without_msh18_valid_utf8_is_utf8_and_anything_else_latin1():
    assert decode(corpus("adt_a08_latin1_undeclared.hl7")).message["PID.F5.R1.C1"] == "Gómez"
    as_utf8 = corpus("adt_a08_latin1_undeclared.hl7").decode("latin-1").encode("utf-8")
    decoded = decode(as_utf8)
    assert (decoded.codec, decoded.message["PID.F5.R1.C1"]) == ("utf-8", "Gómez")


def test_repeated_pid3_identifiers_with_their_assigning_authorities():
    assert patient_identifiers(decode(corpus("oru_r01_lf.hl7")).message) == [
        PatientIdentifier("MRN1001", "NORTHSIDE", "MR"),
        PatientIdentifier("998877", "STATE", "SS"),
        PatientIdentifier("A-55", "RIVERSIDE", "PI"),
    ]
    assert patient_identifiers(decode(corpus("orm_o01_minimal.hl7")).message) == [PatientIdentifier("MRN1006", "", "")]
    assert patient_identifiers(decode(message("X1", body=("OBR|1",))).message) == []


def test_missing_optional_fields_are_fine():
    decoded = decode(corpus("orm_o01_minimal.hl7"))
    assert decoded.sender == "RIS^"  # no MSH-4
    assert decoded.header.charset == "" and decoded.header.version == "2.3"


def test_a_utf8_byte_order_mark_and_surrounding_blank_lines_are_ignored():
    decoded = decode(b"\n\xef\xbb\xbf" + message("BOM-1") + b"\n\n")
    assert decoded.control_id == "BOM-1"


def test_header_values_are_unescaped():
    decoded = decode(message("CTL\\F\\1", sender="RIS\\S\\X|NORTH"))
    assert (decoded.control_id, decoded.sender) == ("CTL|1", "RIS^X^NORTH")


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        (b"", 100, "empty"),
        (corpus("malformed_no_msh.hl7"), 100, "does not begin with an MSH segment"),
        (b"MSHX^~\\&|RIS", 100, "does not begin with an MSH segment"),  # an alphanumeric field separator
        (b"MSH|^^\\&|RIS|N|W|R|2026||ORU^R01|C1|P|2.5\r", 102, "MSH-2"),
        (corpus("unknown_charset.hl7"), 103, "'EBCDIC' is not supported"),
        (corpus("missing_control_id_v23.hl7"), 101, "MSH-10 (message control id) is empty"),
        (message("C2", kind=""), 101, "MSH-9"),
        (message("C3", version=""), 101, "MSH-12"),
        (message("C4", version="3.0"), 203, "version '3.0' is not supported"),
        (message("C5", body=("PID|1", "some report line without a segment id")), 100, "Segment 3 does not begin"),
        (message("C6", body=("PID|1", "MSH|^~\\&|RIS")), 100, "starts another message"),
        (message("C7", body=("BHS|^~\\&",)), 100, "starts another message"),
        (message("C8", charset="UNICODE UTF-8").replace(b"MRN9", b"MRN\xff"), 102, "not valid UNICODE UTF-8"),
        (message("C9", charset="ASCII").replace(b"MRN9", b"MRN\xe9"), 102, "not valid ASCII"),
        (message("C" * 200), 102, "MSH-10 is longer than 199"),
    ],
)
def test_refusals_name_what_is_wrong_with_an_hl7_error_code(raw, code, words):
    problem = refusal(raw).problem
    assert problem.code == code and words in problem.text, problem


def test_a_refusal_never_quotes_the_message_content():
    raw = message("C10", body=("PID|1||MRN9||Secretname^Ada", "a raw line from the report: Secretname has a mass"))
    problem = refusal(raw).problem
    assert "Secretname" not in problem.text and "MRN9" not in problem.text


def test_the_header_of_a_refused_message_is_kept_to_answer_with():
    malformed = refusal(corpus("unknown_charset.hl7"))
    assert malformed.header is not None and malformed.header.control_id == "NS-ORU-0012"
    assert malformed.header.sender == "RIS^NORTHSIDE" and malformed.codec == "iso8859-1"
    assert refusal(corpus("malformed_no_msh.hl7")).header is None
    assert read_header(corpus("adt_a08_latin1.hl7")).control_id == "NS-ADT-0003"


ENCODING = "^~\\&"
TEXT = st.text(alphabet=st.sampled_from("abcXYZ 019.,-'|^~\\&éüßñÅ"), min_size=1, max_size=40).filter(
    lambda text: text.strip() == text and text.strip()
)


@given(value=TEXT, terminator=st.sampled_from(["\r", "\n", "\r\n"]), charset=st.sampled_from(["", "8859/1", "UNICODE UTF-8"]),
       z_segment=st.booleans())  # fmt: skip
def test_any_field_value_survives_escaping_terminators_and_character_sets(value, terminator, charset, z_segment):
    """A name with delimiters, accents and any line ends reads back exactly; Z-segments never change it."""
    codec = "latin-1" if charset == "8859/1" else "utf-8"
    msh = "MSH|^~\\&|RIS|NORTH|WORKUP|CENTRE|20260302090000||ADT^A08|GEN-1|P|2.5.1" + (
        "||||||" + charset if charset else ""
    )
    name = escaped(value, "|", ENCODING)
    segments = [msh, *([f"ZXY|{name}"] if z_segment else []), f"PID|1||MRN1^^^NORTH^MR||{name}^Given"]
    decoded = decode(terminator.join(segments).encode(codec))
    assert decoded.message["PID.F5.R1.C1"] == value
    assert decoded.message["PID.F5.R1.C2"] == "Given"
    assert decoded.z_segments == (1 if z_segment else 0)


FIELD_TEXT = st.text(alphabet="AB1 .-\\^~&|EFRST", max_size=12)


@given(
    encoding=st.sampled_from(["^~\\&", "^~\\", "^~", "#*!@"]),
    segments=st.lists(st.lists(FIELD_TEXT, min_size=1, max_size=8), min_size=1, max_size=5),
    msh_fields=st.lists(FIELD_TEXT, max_size=5),  # MSH-13 to MSH-17 (MSH-18 would name a character set)
)
def test_the_interpreters_field_split_matches_the_full_parse_field_by_field(encoding, segments, msh_fields):
    """What the interpreter reads (each field's text) is what python-hl7's full parse gives, for any
    encoding characters, escapes, repetitions and components, MSH-1 and MSH-2 included."""
    separator = "|"
    clean = [[value.replace(separator, "") for value in fields] for fields in segments]
    msh = f"MSH{separator}{encoding}{separator}RIS{separator}N{separator}{separator}{separator}2026{separator}"
    msh += f"{separator}ORU^R01{separator}C-1{separator}P{separator}2.5.1"
    msh += "".join(separator + value.replace(separator, "") for value in msh_fields)
    body = [separator.join(["OBX", *fields]) for fields in clean]
    decoded = decode(("\r".join([msh, *body])).encode())
    full, light = decoded.message, decoded.fields
    assert [[str(value) for value in segment] for segment in light] == [
        [str(value) for value in segment] for segment in full
    ]
    assert (light.separators, light.esc) == (full.separators, full.esc)
