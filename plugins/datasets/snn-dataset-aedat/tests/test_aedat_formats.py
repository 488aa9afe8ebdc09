"""AEDAT 2.0 / 3.1 files written from the format descriptions, the real AEDAT 4.0 file,
and random or truncated bytes fed to each reader."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_dataset_aedat import Events, read_events, write_aedat2, write_aedat31

from snn_core.errors import DatasetError

REAL = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "aedat"
REAL_FILE = REAL / "davis346_recording.aedat4"
RNG = np.random.default_rng(0)


def _events(n: int = 300, size: int = 128, t0: int = 0) -> Events:
    return Events.make(
        t0 + np.sort(RNG.integers(0, 10**6, n)),
        RNG.integers(0, size, n),
        RNG.integers(0, size, n),
        RNG.random(n) < 0.5,
    )


def _same(a: Events, b: Events) -> bool:
    return all(np.array_equal(u, w) for u, w in zip(a[:4], b[:4], strict=True))


@pytest.mark.parametrize("layout", ["dvs128", "davis"])
def test_aedat2_round_trip(tmp_path, layout):
    ev = _events(size=128 if layout == "dvs128" else 346)
    write_aedat2(tmp_path / "r.aedat", ev, layout)
    back = read_events(tmp_path / "r.aedat")  # layout from the AEChip header line
    assert _same(ev, back)
    assert back.size == ((128, 128) if layout == "dvs128" else None)


def test_aedat2_bit_layout_by_hand(tmp_path):
    """Addresses packed by hand from the jAER descriptions; non-DVS records are skipped."""
    dvs128 = [
        ((5 << 8) | (7 << 1) | 0, 10),  # x 7, y 5, ON (jAER: bit 0 = 0 is ON)
        ((9 << 8) | (3 << 1) | 1, 20),  # x 3, y 9, OFF
        (0x8000 | (1 << 8), 30),  # external event: skipped
    ]
    body = b"".join(struct.pack(">Ii", a, t) for a, t in dvs128)
    (tmp_path / "a.aedat").write_bytes(b"#!AER-DAT2.0\r\n# comment\r\n" + body)
    ev = read_events(tmp_path / "a.aedat", "dvs128")
    assert ev.x.tolist() == [7, 3] and ev.y.tolist() == [5, 9]
    assert ev.p.tolist() == [True, False] and ev.t.tolist() == [10, 20]

    davis = [
        ((200 << 22) | (300 << 12) | (1 << 11), 5),  # x 300, y 200, ON
        ((17 << 22) | (4 << 12), 6),  # x 4, y 17, OFF
        ((1 << 31) | (3 << 22), 7),  # APS sample: skipped
        ((2 << 22) | (1 << 10), 8),  # IMU: skipped
    ]
    body = b"".join(struct.pack(">Ii", a, t) for a, t in davis)
    (tmp_path / "d.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + body)
    ev = read_events(tmp_path / "d.aedat")  # auto: addresses beyond 16 bits -> davis
    assert ev.x.tolist() == [300, 4] and ev.y.tolist() == [200, 17]
    assert ev.p.tolist() == [True, False] and ev.t.tolist() == [5, 6]


def test_aedat31_packets_by_hand(tmp_path):
    """Polarity packets among other packet types, invalid events and timestamp overflow."""
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"

    def packet(etype, size, overflow, events):
        body = b"".join(events)
        n = len(events)
        return struct.pack("<hhiiiiii", etype, 1, size, 4, overflow, n, n, n) + body

    def pol(x, y, on, t, valid=1):
        return struct.pack("<Ii", valid | (on << 1) | (y << 2) | (x << 17), t)

    data = head + packet(1, 8, 0, [pol(10, 20, 1, 100), pol(1, 2, 0, 200, valid=0)])
    data += packet(2, 12, 0, [b"\0" * 12, b"\1" * 12])  # a frame/other packet: skipped
    data += packet(1, 8, 1, [pol(300, 240, 0, 5)])
    (tmp_path / "p.aedat").write_bytes(data)
    ev = read_events(tmp_path / "p.aedat")
    assert ev.x.tolist() == [10, 300] and ev.y.tolist() == [20, 240]
    assert ev.p.tolist() == [True, False]
    assert ev.t.tolist() == [100, (1 << 31) | 5]


def test_aedat31_round_trip_many_packets(tmp_path):
    ev = _events(n=1000, size=346, t0=(1 << 31) - 10**5)  # crosses an overflow
    order = np.argsort(ev.t >> 31, kind="stable")
    ev = Events(*(a[order] for a in ev[:4]))
    with pytest.raises(ValueError, match="overflow"):
        write_aedat31(tmp_path / "r.aedat", ev, packet_events=1000)
    first = int(np.sum(ev.t < (1 << 31)))
    parts = [Events(*(a[:first] for a in ev[:4])), Events(*(a[first:] for a in ev[:4]))]
    write_aedat31(tmp_path / "a.aedat", parts[0], packet_events=64)
    write_aedat31(tmp_path / "b.aedat", parts[1], packet_events=64)
    for part, name in zip(parts, "ab", strict=True):
        assert _same(part, read_events(tmp_path / f"{name}.aedat"))


@pytest.mark.skipif(not REAL_FILE.is_file(), reason=f"{REAL_FILE} is not present")
def test_real_davis346_aedat4():
    ev = read_events(REAL_FILE)
    assert len(ev) == 78830 and ev.size == (346, 260)
    assert ev.x.max() < 346 and ev.y.max() < 260 and 0 < ev.p.mean() < 1
    assert np.all(np.diff(ev.t) >= 0)
    assert 2.0e6 < ev.t[-1] - ev.t[0] < 2.5e6  # 2.36 s


@pytest.mark.skipif(not REAL_FILE.is_file(), reason=f"{REAL_FILE} is not present")
def test_truncated_real_aedat4_names_the_file(tmp_path):
    data = REAL_FILE.read_bytes()
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatasetError, match=re.escape(str(cut)) + ".*AEDAT 4.0"):
        read_events(cut)


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "x.aedat").write_bytes(b"#!AER-DAT1.0\r\nxxxx")
    with pytest.raises(DatasetError, match=r"x.aedat: byte offset 0: not an AEDAT file"):
        read_events(tmp_path / "x.aedat")
    with pytest.raises(DatasetError, match="cannot read"):
        read_events(tmp_path / "missing.aedat")


def test_truncated_aedat2_and_31_name_offset(tmp_path):
    ev = _events(n=50)
    write_aedat2(tmp_path / "a.aedat", ev)
    data = (tmp_path / "a.aedat").read_bytes()
    (tmp_path / "a.aedat").write_bytes(data[:-3])
    with pytest.raises(DatasetError, match=r"a.aedat: byte offset \d+: truncated record"):
        read_events(tmp_path / "a.aedat")
    write_aedat31(tmp_path / "b.aedat", ev, packet_events=20)
    data = (tmp_path / "b.aedat").read_bytes()
    (tmp_path / "b.aedat").write_bytes(data[:-5])
    with pytest.raises(DatasetError, match=r"b.aedat: byte offset \d+: packet 2: .*announces"):
        read_events(tmp_path / "b.aedat")


# -- property-based: random and truncated bytes never crash, or fail with a clear error ---

_MAGICS = [b"#!AER-DAT2.0\r\n", b"#!AER-DAT3.1\r\n#!END-HEADER\r\n", b"#!AER-DAT4.0\r\n", b""]
_CLEAR = re.compile(r"(byte offset \d+|packet \d+|AEDAT 4\.0 (header|packet \d+))")


def _check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        ev = read_events(path)
    except DatasetError as exc:
        assert str(path) in str(exc) and _CLEAR.search(str(exc)), str(exc)
        return
    assert len(ev.t) == len(ev.x) == len(ev.y) == len(ev.p)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(magic=st.sampled_from(_MAGICS), body=st.binary(max_size=400))
def test_random_bytes(tmp_path, magic, body):
    _check(tmp_path / "random.aedat", magic + body)


def _valid_files(tmp_path: Path) -> dict[str, bytes]:
    ev = _events(n=40, size=100)
    write_aedat2(tmp_path / "v2.aedat", ev, "davis")
    write_aedat31(tmp_path / "v3.aedat", ev, packet_events=16)
    files = {k: (tmp_path / f"{k}.aedat").read_bytes() for k in ("v2", "v3")}
    if REAL_FILE.is_file():
        files["v4"] = REAL_FILE.read_bytes()[:200_000]
    return files


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_truncated_and_corrupted_files(tmp_path, data):
    files = _valid_files(tmp_path)
    name = data.draw(st.sampled_from(sorted(files)))
    raw = bytearray(files[name])
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 3))):
        if raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    _check(tmp_path / f"broken_{name}.aedat", bytes(raw))
