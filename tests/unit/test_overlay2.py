"""The overlay2 layer store reader without a daemon: tar-split records, chain ids, folder walks,
and the dispatcher's rule for which daemons are on this machine."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from dashboard.engine.analysis.layerfiles import dispatch, overlay2
from dashboard.engine.analysis.layerfiles.layertar import layer_entries
from dashboard.engine.analysis.layerfiles.records import NotAvailable, TarEntry


def make_tar(members: list[tuple[str, bytes | None, dict]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, extra in members:
            info = tarfile.TarInfo(name)
            for key, value in extra.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def tar_split_records(raw: bytes) -> list[dict]:
    """What tar-split stores for `raw`: raw bytes between contents, and each content's size."""
    records, position, cursor = [], 0, 0
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar.getmembers():
            segment = raw[cursor : member.offset_data]
            records.append({"type": 2, "payload": base64.b64encode(segment).decode()})
            records.append({"type": 1, "name": member.name, "size": member.size})
            cursor = member.offset_data + member.size
    records.append({"type": 2, "payload": base64.b64encode(raw[cursor:]).decode()})
    for record in records:
        record["position"], position = position, position + 1
    return records


MEMBERS = [
    ("demo/", None, {"type": tarfile.DIRTYPE, "mode": 0o755}),
    ("demo/a.bin", b"x" * 1500, {}),
    ("demo/" + "long" * 40 + ".txt", b"y" * 10, {}),  # a GNU long-name header
    ("demo/hard", None, {"type": tarfile.LNKTYPE, "linkname": "demo/a.bin"}),
    ("demo/sym", None, {"type": tarfile.SYMTYPE, "linkname": "a.bin"}),
    ("demo/.wh.gone", b"", {}),
    ("swap/", None, {"type": tarfile.DIRTYPE}),
    ("swap/.wh..wh..opq", b"", {}),
    ("empty", b"", {}),
]


def entries_from_tar(raw: bytes) -> list[TarEntry]:
    return list(layer_entries(io.BytesIO(raw), "layer.tar"))


def test_tar_split_gives_the_same_records_as_the_tar(tmp_path):
    raw = make_tar(MEMBERS)
    path = tmp_path / "tar-split.json.gz"
    with gzip.open(path, "wt") as out:
        out.writelines(json.dumps(r) + "\n" for r in tar_split_records(raw))
    entries = overlay2.tar_split_entries(str(path))
    assert entries == entries_from_tar(raw)
    by_path = {e.path: e for e in entries}
    assert by_path["/demo/a.bin"].size == 1500
    assert by_path["/demo/" + "long" * 40 + ".txt"].size == 10
    assert by_path["/demo/hard"].link == "demo/a.bin" and by_path["/demo/hard"].size == 0
    assert by_path["/demo/gone"].whiteout
    assert any(e.opaque and e.path == "/swap" for e in entries)


def test_split_stream_reads_contents_as_zeros_and_seeks():
    records = [
        {"type": 2, "payload": base64.b64encode(b"head").decode()},
        {"type": 1, "name": "f", "size": 3},
        {"type": 2, "payload": base64.b64encode(b"tail").decode()},
        {"type": 1, "name": "empty", "size": 0},
    ]
    stream = overlay2._SplitStream(records)
    assert stream.read() == b"head\0\0\0tail"
    stream.seek(5)
    assert stream.read(4) == b"\0\0ta"
    assert stream.seek(-2, io.SEEK_END) == 9 and stream.read(10) == b"il"
    assert stream.read(1) == b""


def test_chain_ids_follow_the_layer_store_rule():
    a, b, c = (f"sha256:{ch * 64}" for ch in "abc")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert overlay2.chain_ids([a, b, c]) == [a, ab, abc]
    assert overlay2.chain_ids([]) == []


def test_layer_folders_are_base_first():
    driver = {"Data": {"UpperDir": "/o/top/diff", "LowerDir": "/o/mid/diff:/o/base/diff"}}
    assert overlay2.layer_folders(driver) == ["/o/base/diff", "/o/mid/diff", "/o/top/diff"]
    assert overlay2.layer_folders({"Data": {"UpperDir": "/o/only/diff"}}) == ["/o/only/diff"]
    with pytest.raises(NotAvailable):
        overlay2.layer_folders({"Data": {}})


def test_walk_lists_a_folder_in_tar_order(tmp_path):
    root = tmp_path / "diff"
    (root / "b").mkdir(parents=True)
    (root / "b" / "z.txt").write_bytes(b"12345")
    (root / "b" / "a.txt").write_bytes(b"1")
    os.link(root / "b" / "a.txt", root / "b" / "c-link")
    (root / "a-sym").symlink_to("b/z.txt")
    (root / "B").mkdir()  # upper case sorts before lower case, as bytes
    assert list(overlay2.walk(str(root))) == [
        TarEntry("/B", 0, is_dir=True),
        TarEntry("/a-sym", 0, link="b/z.txt"),
        TarEntry("/b", 0, is_dir=True),
        TarEntry("/b/a.txt", 1),
        TarEntry("/b/c-link", 0, link="b/a.txt"),
        TarEntry("/b/z.txt", 5),
    ]


def test_local_means_a_unix_socket():
    class Api:
        def __init__(self, url):
            self.base_url = url

    class Client:
        def __init__(self, url):
            self.api = Api(url)

    assert dispatch.is_local(Client("http+docker://localhost"))
    assert not dispatch.is_local(Client("https://10.0.0.2:2376"))
    assert not dispatch.is_local(Client("http://127.0.0.1:2375"))
