"""Cases for letter tests, opened and worked through the real services, and PDFs read back with pdftotext."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from tracking.cases.opening import CaseOpening, open_case
from tracking.cases.recording import record_event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the screening exam the case opens with
T1 = T0 + timedelta(days=1)  # magnification views read
T2 = T0 + timedelta(days=2)  # an ultrasound appointment missed

# The regulation's exact sentences (21 CFR 900.12(c)(2)(iii) and (iv)), typed here independently of
# config/letters/density.yaml so the test fails if that table drifts from the regulation.
NOT_DENSE = (
    "Breast tissue can be either dense or not dense. Dense tissue makes it harder to find breast cancer on a "
    "mammogram and also raises the risk of developing breast cancer. Your breast tissue is not dense. Talk to your "
    "healthcare provider about breast density, risks for breast cancer, and your individual situation."
)
DENSE = (
    "Breast tissue can be either dense or not dense. Dense tissue makes it harder to find breast cancer on a "
    "mammogram and also raises the risk of developing breast cancer. Your breast tissue is dense. In some people "
    "with dense tissue, other imaging tests in addition to a mammogram may help find cancers. Talk to your "
    "healthcare provider about breast density, risks for breast cancer, and your individual situation."
)
ES_DENSE_KEY = "Su tejido mamario es denso."
ES_NOT_DENSE_KEY = "Su tejido mamario no es denso."


@dataclass(frozen=True)
class Seeded:
    case_id: int
    given_name: str
    family_name: str


def open_letter_case(
    session: Session,
    *,
    mrn: str,
    given_name: str,
    family_name: str,
    density: str,
    birads_read: str,
    language: str = "en",
    facility: bool = True,
    missed: bool = True,
    exam_at: datetime = T0,
    address: str | None = "12 Elm Street\nSpringfield, MA 01101",
) -> Seeded:
    """Open a case at T0 (or `exam_at`) through open_case, read the magnification views a day later
    (BI-RADS `birads_read`), and record the ultrasound appointment missed the day after."""
    read_at, missed_at = exam_at + (T1 - T0), exam_at + (T2 - T0)
    raw = {
        "mrn": mrn, "given_name": given_name, "family_name": family_name, "birth_date": "1961-07-19",
        "laterality": "left", "density": density, "occurred_at": exam_at.isoformat(),
        "facilities": [{"name": f"Northside Imaging {mrn}", "channel": "fax", "contact": "+1 617 555 0100"}]
        if facility else [],
        "contact": {"address": address, "preferred_language": language, "referring_provider": "Dr. Ana Ruiz"},
    }  # fmt: skip
    opened = open_case(session, CaseOpening.model_validate(raw), actor="test", now=exam_at)
    suspicious = birads_read in ("4A", "4B", "4C", "5")
    read = {"birads": birads_read, "morphology": "fine_pleomorphic" if suspicious else "round",
            "distribution": "grouped"}  # fmt: skip
    record_event(session, opened.case_id, "magnification_result", read, actor="test", now=read_at, occurred_at=read_at)
    if missed:
        record_event(session, opened.case_id, "appointment_missed", {"step": "ultrasound"}, actor="test",
                     now=missed_at, occurred_at=missed_at)  # fmt: skip
    return Seeded(opened.case_id, given_name, family_name)


def pdf_text(pdf: bytes, folder: Path, name: str = "letter.pdf") -> str:
    """The PDF's text (pdftotext from poppler-utils), whitespace collapsed to single spaces."""
    path = folder / name
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
    return " ".join(done.stdout.decode("utf-8").split())


def letters_copy(folder: Path, edit: tuple[str, str, str] | None = None) -> Path:
    """A copy of config/letters under `folder`, for WORKUP_LETTERS_DIR; `edit` (template, old, new)
    changes one template the way a centre might after letters were produced."""
    from tracking.settings import REPO_ROOT

    copy = folder / "letters"
    shutil.copytree(REPO_ROOT / "config" / "letters", copy)
    if edit is not None:
        template, old, new = edit
        path = copy / template
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return copy
