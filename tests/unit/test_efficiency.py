"""dive's efficiency algorithm: its own test cases (dive/filetree/efficiency_test.go), then ours."""

from __future__ import annotations

import pytest

from dashboard.engine.analysis.layerfiles.efficiency import efficiency
from dashboard.engine.analysis.layerfiles.records import LayerFiles
from dashboard.engine.analysis.layerfiles.records import TarEntry as T


def d(path: str) -> T:
    return T(path, 0, is_dir=True)


def test_dive_efficiency_case():
    """dive's TestEfficency: parents are implied, so the whiteout of /etc/nginx weighs 0."""
    report = efficiency(
        [
            [T("/etc/nginx/nginx.conf", 2000), T("/etc/nginx/public", 3000)],
            [T("/etc/nginx/nginx.conf", 5000), T("/etc/athing", 10000)],
            [T("/etc/nginx", 0, whiteout=True)],
        ]
    )
    assert report.score == 0.75
    assert [(w.path, w.cumulative_size, w.layers) for w in report.top] == [
        ("/etc/nginx/nginx.conf", 7000, (0, 1))
    ]
    assert report.wasted_bytes == 7000
    assert report.inefficient_paths == 1


def test_dive_scratch_image_case():
    report = efficiency([[T("/nothing", 0)], [], []])
    assert report.score == 1.0
    assert report.top == ()
    assert report.wasted_bytes == 0


def test_directory_whiteout_weighs_what_it_hides():
    """With real directory entries (as layer tars have), a removed directory counts its content."""
    report = efficiency(
        [
            [d("/etc"), d("/etc/nginx"), T("/etc/nginx/nginx.conf", 2000)]
            + [T("/etc/nginx/public", 3000)],
            [d("/etc"), d("/etc/nginx"), T("/etc/nginx/nginx.conf", 5000), T("/etc/athing", 10000)],
            [d("/etc"), T("/etc/nginx", 0, whiteout=True)],
        ]
    )
    # /etc/nginx (the whiteout) adds 8000 to both sums: 2000+3000+10000+8000 over 7000+...+8000.
    assert report.score == pytest.approx(23000 / 28000)
    assert [w.path for w in report.top] == ["/etc/nginx/nginx.conf"]
    assert report.removed_files == 1
    assert report.removed_bytes == 8000


def test_removed_file_is_wasted_in_full():
    report = efficiency(
        [
            [d("/data"), T("/data/model.bin", 900), T("/data/keep", 100)],
            [d("/data"), T("/data/model.bin", 0, whiteout=True)],
        ]
    )
    (wasted,) = report.top
    assert (wasted.path, wasted.cumulative_size, wasted.minimum_size) == ("/data/model.bin", 900, 0)
    assert wasted.removed and wasted.excess_size == 900
    assert report.score == pytest.approx(100 / 1000)
    assert report.wasted_bytes == 900
    assert (report.removed_files, report.removed_bytes) == (1, 900)


def test_overwritten_file_and_sizes():
    layers = [
        [d("/app"), T("/app/weights", 400), T("/usr/bin/python", 600)],
        [d("/app"), T("/app/weights", 1000)],
        [d("/app"), T("/app/weights", 1000), T("/app/main.py", 50)],
    ]
    report = efficiency(layers)
    (wasted,) = report.top
    assert (wasted.cumulative_size, wasted.minimum_size, wasted.layers) == (2400, 400, (0, 1, 2))
    assert report.size_bytes == 400 + 600 + 1000 + 1000 + 50
    assert report.user_size_bytes == 2050
    assert report.wasted_user_fraction == pytest.approx(2400 / 2050)
    assert report.score == pytest.approx((400 + 600 + 50) / (2400 + 600 + 50))


def test_only_leaves_count_and_empty_dirs_are_leaves():
    report = efficiency(
        [
            [d("/tmp"), d("/srv"), T("/srv/a", 10)],
            [d("/tmp"), d("/srv"), T("/srv/b", 20)],
        ]
    )
    # /srv has children in both layers (not a leaf); /tmp is an empty dir seen twice.
    assert [(w.path, w.cumulative_size) for w in report.top] == [("/tmp", 0)]
    assert report.score == 1.0


def test_top_is_sorted_and_truncated_but_totals_are_not():
    layers = [
        [T(f"/f{i}", (i + 1) * 10) for i in range(5)],
        [T(f"/f{i}", (i + 1) * 10) for i in range(5)],
    ]
    report = efficiency(layers, top=2)
    assert [w.path for w in report.top] == ["/f4", "/f3"]
    assert report.inefficient_paths == 5
    assert report.wasted_bytes == 2 * (10 + 20 + 30 + 40 + 50)
    assert report.score == 0.5


def test_accepts_layer_files():
    entries = ((T("/x", 5),), (T("/x", 0, whiteout=True),))
    layers = [
        LayerFiles(index=i, diff_id="", member="", history=None, entries=e, changes=())
        for i, e in enumerate(entries)
    ]
    assert efficiency(layers).wasted_bytes == 5
