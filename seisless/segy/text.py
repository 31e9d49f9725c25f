"""Textual headers: EBCDIC or ASCII, and the rev 2 extended-header stanzas."""

from __future__ import annotations

import re

TEXT_HEADER_BYTES = 3200

# Printable EBCDIC (cp037): space, punctuation, letters, digits.
_EBCDIC_GRAPHIC = frozenset(
    b for b in range(256) if b == 0x40 or (0x4A <= b <= 0xF9 and chr(b).isprintable())
)
_END_TEXT = re.compile(rb"\(\(SEG:ENDTEXT\)\)")


def text_encoding(record: bytes) -> str:
    """'ascii' or 'ebcdic' for one 3200-byte record, by which decoding looks like text.

    Real headers mix in NULs and odd bytes, so this counts rather than validates: ASCII
    text lives in 0x20-0x7E, EBCDIC letters and digits in 0x81-0xF9.
    """
    ascii_like = sum(1 for b in record if 0x20 <= b <= 0x7E)
    ebcdic_like = sum(1 for b in record if b in _EBCDIC_GRAPHIC and not 0x20 <= b <= 0x3F)
    ebcdic_like += record.count(0x40)
    return "ebcdic" if ebcdic_like > ascii_like else "ascii"


def decode_text(record: bytes, encoding: str | None = None) -> str:
    """Decode a text record as 80-column card images, one line per card."""
    codec = "cp037" if (encoding or text_encoding(record)) == "ebcdic" else "latin-1"
    text = record.decode(codec).replace("\x00", " ")
    return "\n".join(text[i:i + 80].rstrip() for i in range(0, len(text), 80))


def is_end_text(record: bytes) -> bool:
    """Whether a record is the `((SEG: EndText))` stanza, in either encoding.

    Writers vary case and spacing (`((SEG: EndText))`, `(( SEG:ENDTEXT ))`), so the test
    is made on the upper-cased text with all blanks removed.
    """
    for codec in ("latin-1", "cp037"):
        squashed = record.decode(codec).upper().encode("latin-1", "replace")
        squashed = re.sub(rb"\s|\x00", b"", squashed)
        if _END_TEXT.search(squashed):
            return True
    return False
