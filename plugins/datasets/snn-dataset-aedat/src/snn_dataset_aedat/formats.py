"""Polarity events from AEDAT 2.0, 3.1 and 4.0 files, and writers for 2.0 and 3.1.

AEDAT 2.0 (jAER)
    ASCII header lines starting with ``#`` (the first is ``#!AER-DAT2.0``), then
    big-endian records of 8 bytes: a 32-bit address and a 32-bit timestamp (µs). Two
    address layouts are read:

    ``dvs128``
        ``x = (addr >> 1) & 0x7F``, ``y = (addr >> 8) & 0x7F``, bit 0 the polarity in
        jAER's convention (1 = OFF, 0 = ON); records with bit 15 set (external events)
        are skipped. jAER stores x mirrored (``127 - x``): use ``is_x_flipped``.
    ``davis``
        DVS events have bits 31 (APS/ADC) and 10 (IMU) clear; ``y`` = bits 22-30,
        ``x`` = bits 12-21, polarity bit 11 (1 = ON). Other records are skipped. jAER's
        y origin is the bottom row: use ``is_y_flipped`` for top-left images.

AEDAT 3.1 (libcaer)
    ASCII header lines up to ``#!END-HEADER\\r\\n``, then packets: a 28-byte little-endian
    header (eventType int16, eventSource int16, eventSize int32, eventTSOffset int32,
    eventTSOverflow int32, eventCapacity int32, eventNumber int32, eventValid int32)
    followed by ``eventCapacity * eventSize`` bytes. Polarity packets (type 1, 8-byte
    events: uint32 data with the valid mark in bit 0, polarity bit 1 (1 = ON), y bits 2-16,
    x bits 17-31, and an int32 timestamp) are read; other packets are skipped. Timestamps
    are ``eventTSOverflow << 31 | timestamp``.

AEDAT 4.0 (DV)
    Read with the ``aedat`` package (Rust, maintained by the ICNS); the events of every
    ``events`` stream are merged, the chip size comes from the stream.

Every error is a :class:`~snn_core.errors.DatasetError` naming the file and the byte
offset (2.0, 3.1) or the packet (4.0) where reading failed.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from snn_core.errors import DatasetError

Layout = Literal["auto", "dvs128", "davis"]

_MAGIC2 = b"#!AER-DAT2.0"
_MAGIC3 = b"#!AER-DAT3."
_MAGIC4 = b"#!AER-DAT4.0"
_END3 = b"#!END-HEADER\r\n"
_PACKET3 = struct.Struct("<hhiiiiii")
_POLARITY_TYPE = 1


class Events(NamedTuple):
    """Polarity events as parallel arrays, in file order.

    Attributes
    ----------
    t
        Timestamps in µs (int64).
    x, y
        Pixel addresses (int32).
    p
        Polarity (bool, True = ON).
    size
        ``(width, height)`` of the chip if the file says so, else None.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    size: tuple[int, int] | None = None

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.t)

    @classmethod
    def make(cls, t, x, y, p, size=None) -> Events:
        """Build from array-likes (converted to the canonical dtypes)."""
        return cls(
            np.asarray(t, np.int64),
            np.asarray(x, np.int32),
            np.asarray(y, np.int32),
            np.asarray(p, bool),
            size,
        )


def detect_version(path: Path, head: bytes) -> str:
    """``"2.0"``, ``"3.1"`` or ``"4.0"`` from the first bytes of a file."""
    if head.startswith(_MAGIC2):
        return "2.0"
    if head.startswith(_MAGIC3):
        return "3.1"
    if head.startswith(_MAGIC4):
        return "4.0"
    raise DatasetError(
        f"{path}: byte offset 0: not an AEDAT file (found {head[:16]!r}); expected a first "
        "line #!AER-DAT2.0, #!AER-DAT3.1 or #!AER-DAT4.0"
    )


def read_events(path: Path, layout: Layout = "auto") -> Events:
    """Read the polarity events of an AEDAT 2.0, 3.1 or 4.0 file.

    Parameters
    ----------
    path
        The recording.
    layout
        Address layout of an AEDAT 2.0 file (ignored for the others); ``auto`` takes it
        from the header's ``AEChip`` line (DVS128 or DAVIS) and, without one, from the
        addresses (DVS128 addresses fit in 16 bits).

    Raises
    ------
    DatasetError
        Naming the file and the byte offset or packet that is malformed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror})") from None
    version = detect_version(path, head)
    if version == "4.0":
        return _read_aedat4(path)
    data = path.read_bytes()
    if version == "2.0":
        return _read_aedat2(path, data, layout)
    return _read_aedat31(path, data)


# -- AEDAT 2.0 ------------------------------------------------------------------------------


def _header_lines(path: Path, data: bytes) -> tuple[list[bytes], int]:
    """The ``#`` header lines of a 2.0 file and the offset of the first record."""
    pos, lines = 0, []
    while data[pos : pos + 1] == b"#":
        end = data.find(b"\n", pos)
        if end < 0:
            raise DatasetError(
                f"{path}: byte offset {pos}: header line not terminated (truncated file?)"
            )
        lines.append(data[pos:end])
        pos = end + 1
    return lines, pos


def _read_aedat2(path: Path, data: bytes, layout: Layout) -> Events:
    lines, start = _header_lines(path, data)
    body = len(data) - start
    if body % 8:
        raise DatasetError(
            f"{path}: byte offset {start + body - body % 8}: truncated record ({body % 8} of 8 "
            f"bytes); the records start at byte {start} and are 8 bytes each"
        )
    rec = np.frombuffer(data, dtype=">u4", offset=start).reshape(-1, 2)
    addr = rec[:, 0].astype(np.int64)
    t = rec[:, 1].view(">i4").astype(np.int64)
    if layout == "auto":
        chip = b" ".join(line for line in lines if b"AEChip" in line).lower()
        if b"davis" in chip:
            layout = "davis"
        elif b"dvs128" in chip or b"tmpdiff128" in chip:
            layout = "dvs128"
        else:
            layout = "davis" if len(addr) and int(addr.max()) >= 1 << 16 else "dvs128"
    if layout == "dvs128":
        keep = (addr & 0x8000) == 0
        x = (addr >> 1) & 0x7F
        y = (addr >> 8) & 0x7F
        p = (addr & 1) == 0
        size: tuple[int, int] | None = (128, 128)
    elif layout == "davis":
        keep = ((addr >> 31) & 1 == 0) & ((addr >> 10) & 1 == 0)
        y = (addr >> 22) & 0x1FF
        x = (addr >> 12) & 0x3FF
        p = ((addr >> 11) & 1) == 1
        size = None
    else:
        raise DatasetError(
            f"{path}: unknown address layout {layout!r}; valid: 'auto', 'dvs128', 'davis'"
        )
    return Events.make(t[keep], x[keep], y[keep], p[keep], size)


def write_aedat2(path: Path, events: Events, layout: Literal["dvs128", "davis"] = "dvs128") -> None:
    """Write polarity events as an AEDAT 2.0 (jAER) file with the given address layout."""
    x = np.asarray(events.x, np.int64)
    y = np.asarray(events.y, np.int64)
    on = np.asarray(events.p, bool)
    if layout == "dvs128":
        if len(x) and (x.max() > 127 or y.max() > 127):
            raise ValueError("DVS128 addresses hold x, y < 128")
        addr = (y << 8) | (x << 1) | (~on).astype(np.int64)
        chip = "ch.unizh.ini.jaer.chip.retina.DVS128"
    else:
        if len(x) and (x.max() > 1023 or y.max() > 511):
            raise ValueError("DAVIS addresses hold x < 1024, y < 512")
        addr = (y << 22) | (x << 12) | (on.astype(np.int64) << 11)
        chip = "eu.seebetter.ini.chips.davis.DAVIS346B"
    rec = np.empty((len(x), 2), ">u4")
    rec[:, 0] = addr.astype(np.uint32)
    rec[:, 1] = np.asarray(events.t, np.int64).astype(np.int32).view(np.uint32)
    header = f"#!AER-DAT2.0\r\n# This is a raw AE data file created by snn\r\n# AEChip: {chip}\r\n"
    Path(path).write_bytes(header.encode() + rec.tobytes())


# -- AEDAT 3.1 ------------------------------------------------------------------------------


def _read_aedat31(path: Path, data: bytes) -> Events:
    end = data.find(_END3)
    if end < 0:
        raise DatasetError(
            f"{path}: byte offset {len(data)}: no '#!END-HEADER' line; the header is "
            "truncated or the file is damaged"
        )
    pos = end + len(_END3)
    ts, xs, ys, ps = [], [], [], []
    packet = 0
    while pos < len(data):
        if pos + _PACKET3.size > len(data):
            raise DatasetError(
                f"{path}: byte offset {pos}: packet {packet}: truncated packet header "
                f"({len(data) - pos} of {_PACKET3.size} bytes)"
            )
        etype, _src, esize, _tsoff, overflow, capacity, number, _valid = _PACKET3.unpack_from(
            data, pos
        )
        where = f"{path}: byte offset {pos}: packet {packet}"
        if esize <= 0 or capacity < 0 or not 0 <= number <= capacity or overflow < 0:
            raise DatasetError(
                f"{where}: malformed packet header (eventSize {esize}, eventCapacity "
                f"{capacity}, eventNumber {number}, eventTSOverflow {overflow})"
            )
        body = pos + _PACKET3.size
        length = esize * capacity
        if body + length > len(data):
            raise DatasetError(
                f"{where}: the packet announces {capacity} events of {esize} bytes but only "
                f"{len(data) - body} bytes remain (truncated file?)"
            )
        if etype == _POLARITY_TYPE and number:
            if esize < 8:
                raise DatasetError(
                    f"{where}: polarity events must be at least 8 bytes, found eventSize {esize}"
                )
            raw = np.frombuffer(data, np.uint8, count=esize * number, offset=body)
            raw = raw.reshape(number, esize)[:, :8].copy()
            word = raw[:, :4].view("<u4").reshape(-1).astype(np.int64)
            stamp = raw[:, 4:8].view("<i4").reshape(-1).astype(np.int64)
            valid = (word & 1) == 1
            ts.append(((overflow << 31) | (stamp & 0x7FFFFFFF))[valid])
            ps.append(((word >> 1) & 1)[valid] == 1)
            ys.append(((word >> 2) & 0x7FFF)[valid])
            xs.append(((word >> 17) & 0x7FFF)[valid])
        pos = body + length
        packet += 1
    if not ts:
        return Events.make([], [], [], [])
    return Events.make(
        np.concatenate(ts), np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)
    )


def write_aedat31(path: Path, events: Events, packet_events: int = 4096) -> None:
    """Write polarity events as an AEDAT 3.1 file (polarity packets of ``packet_events``)."""
    t = np.asarray(events.t, np.int64)
    word = (
        1
        | (np.asarray(events.p, bool).astype(np.int64) << 1)
        | (np.asarray(events.y, np.int64) << 2)
        | (np.asarray(events.x, np.int64) << 17)
    )
    out = [b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS\r\n", _END3]
    for start in range(0, len(t), packet_events):
        chunk_t = t[start : start + packet_events]
        n = len(chunk_t)
        overflow = int(chunk_t[0] >> 31)
        if np.any((chunk_t >> 31) != overflow):
            raise ValueError("a packet's timestamps must share their overflow (bits 31+)")
        rec = np.empty((n, 2), "<u4")
        rec[:, 0] = word[start : start + n].astype(np.uint32)
        rec[:, 1] = (chunk_t & 0x7FFFFFFF).astype(np.uint32)
        out.append(_PACKET3.pack(_POLARITY_TYPE, 1, 8, 4, overflow, n, n, n))
        out.append(rec.tobytes())
    Path(path).write_bytes(b"".join(out))


# -- AEDAT 4.0 ------------------------------------------------------------------------------


def _read_aedat4(path: Path) -> Events:
    import aedat

    packet = -1
    try:
        decoder = aedat.Decoder(str(path))
        streams = decoder.id_to_stream()
        chunks = []
        for packet, item in enumerate(decoder):  # noqa: B007 - named in the error below
            if "events" in item:
                chunks.append(np.asarray(item["events"]))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the Rust decoder may panic (pyo3 PanicException)
        where = "header" if packet < 0 else f"packet {packet + 1} (after {packet} good ones)"
        raise DatasetError(
            f"{path}: AEDAT 4.0 {where}: {exc} (truncated or damaged file?)"
        ) from None
    size = None
    for info in streams.values():
        if info.get("type") == "events" and "width" in info:
            size = (int(info["width"]), int(info["height"]))
            break
    if not chunks:
        return Events.make([], [], [], [], size)
    ev = np.concatenate(chunks)
    return Events.make(ev["t"], ev["x"], ev["y"], ev["on"], size)
