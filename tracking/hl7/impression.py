"""BI-RADS categories named in a report's words ("BI-RADS 4B", "BIRADS: 0", "Category 4",
"BI-RADS category 3"). What this finds is a suggestion for a person: the interface never applies a
category it read only from free text."""

from __future__ import annotations

import re

# "BI-RADS" (any spacing or hyphen, optional "assessment"/"category"/"cat"), then a category;
# or "Category 4A" alone. "0" to "6", with A-C after a 4. Roman numerals and words are not read.
CATEGORY = r"(?P<number>[0-6])\s*(?P<letter>[abcABC])?(?![0-9A-Za-z])"
MENTION = re.compile(
    r"(?:\bBI[\s-]?RADS\b\s*(?:assessment\s*)?(?:category\s*|cat\.?\s*)?|\bcategory\s+)[:#=\-]?\s*" + CATEGORY,
    re.IGNORECASE,
)


def birads_in_text(text: str) -> list[str]:
    """The distinct categories the text names, in order ("4" when a 4 has no subcategory)."""
    found: list[str] = []
    for match in MENTION.finditer(text or ""):
        number, letter = match.group("number"), (match.group("letter") or "").upper()
        category = number + (letter if number == "4" else "")
        if category not in found:
            found.append(category)
    return found
