"""The one lesson catalog (engine/catalog/lessons.py): what navigation, checks, hints and labs
read."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.engine.analysis import dockerfile_lint as dl
from dashboard.engine.catalog import labs, lessons
from dashboard.engine.progress import checks

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "dashboard" / "pages"


def test_the_catalog_is_whole_and_everything_names_its_lessons():
    lessons.check_catalog(PAGES)
    ids = set(lessons.BY_ID)
    assert {c.lesson for c in checks.CHECKS} <= ids
    assert {r.lesson for r in dl.RULES.values()} <= ids
    assert set(labs.LABS) == {lab.name for lesson in lessons.LESSONS for lab in lesson.labs}
    assert checks.checks_for("lesson1")
    assert any(rule.lesson == "cache" for rule in dl.RULES.values())


def test_a_lesson_without_its_page_or_lab_folder_is_refused(tmp_path):
    extra = dataclasses.replace(
        lessons.get("lesson1"),
        id="lesson5",
        page="lesson5.py",
        labs=(lessons.Lab("kube", "kube", "kube:1.0"),),
    )
    with pytest.raises(lessons.LessonCatalogError) as refused:
        lessons.check_catalog(PAGES, (*lessons.LESSONS, extra))
    assert "lesson 'lesson5': no page" in str(refused.value)
    assert "no lab folder" in str(refused.value) and "kube" in str(refused.value)


def test_the_app_does_not_start_with_a_lesson_that_has_no_page():
    script = (
        "import dataclasses\n"
        "from dashboard.engine.catalog import lessons\n"
        "extra = dataclasses.replace(lessons.LESSONS[0], id='lesson5', page='lesson5.py')\n"
        "lessons.LESSONS = (*lessons.LESSONS, extra)\n"
        "import dashboard.ui.shell\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "LessonCatalogError" in done.stderr and "lesson5.py" in done.stderr


def test_navigation_lists_every_lesson_page_in_catalog_order():
    from dashboard.ui import shell

    lesson_specs = [spec for spec in shell.PAGES if spec.section == "Lessons"]
    assert [(s.file, s.title) for s in lesson_specs] == [
        (lesson.page, lesson.nav) for lesson in lessons.LESSONS
    ]
