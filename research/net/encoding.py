"""Decoding bodies: content encodings (gzip, deflate) and HTML charsets (declared, meta, detected)."""

from __future__ import annotations

import codecs
import re
import zlib
from typing import Any

import charset_normalizer

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
# WHATWG: pages labelled Latin-1 or ASCII are decoded as windows-1252.
_ALIASES = {"latin1": "cp1252", "iso8859_1": "cp1252", "ascii": "cp1252"}
_DETECT_BYTES = 65536
# Below this share of non-ASCII bytes, detection is a guess.
_FEW_NON_ASCII = 0.005
CONTENT_ENCODINGS = ("identity", "", "gzip", "x-gzip", "deflate")


class Inflater:
    """Decompresses a body incrementally, never producing more than the cap allows."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding in ("gzip", "x-gzip"):
            self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._first = True
        else:
            self._z = None

    def feed(self, data: bytes, room: int) -> bytes:
        """Return up to `room` + 1 decompressed bytes of `data`; raise zlib.error when corrupt."""
        if self._z is None:
            return data
        if self.encoding == "deflate" and self._first:
            self._first = False
            try:
                return self._z.decompress(data, room + 1)  # type: ignore[no-any-return]
            except zlib.error:
                # Some servers send raw deflate without the zlib header.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._z.decompress(data, room + 1)  # type: ignore[no-any-return]


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _ALIASES.get(name.replace("-", "_"), name)


def header_charset(content_type: str) -> str | None:
    """Return the charset named in a Content-Type header, if any."""
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def decode_html(body: bytes, content_type: str = "") -> str:
    """Return an HTML body as text: valid UTF-8, else the declared, else the detected charset."""
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace")
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(body[:4096])
    candidates = [
        _codec(header_charset(content_type)),
        _codec(meta.group(1).decode("ascii", "ignore") if meta else None),
    ]
    for name in candidates:
        if name and name != "utf_8":
            try:
                return body.decode(name)
            except UnicodeDecodeError:
                continue
    sample = body[:_DETECT_BYTES]
    if sum(byte > 0x7F for byte in sample) <= _FEW_NON_ASCII * len(sample):
        # A handful of non-ASCII bytes says too little for statistics ("Zürich" read as
        # Czech); the web's default for mislabelled Western pages decides.
        try:
            return body.decode("cp1252")
        except UnicodeDecodeError:
            pass
    matches = charset_normalizer.from_bytes(sample)
    best = matches.best()
    if best is not None:
        # Short Western texts fit several code pages equally well; the web's default wins ties.
        tied = {
            m.encoding for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence
        }
        encoding = "cp1252" if "cp1252" in tied else best.encoding
        return body.decode(encoding, errors="replace")
    return body.decode("cp1252", errors="replace")
