"""The classroom hub's roster without a hub: the rows it makes from the hub's users, the
Swarm's nodes and the seats' answers, and the page it draws (dashboard/hub/roster.py).
The real service, with a real hub, seats and nodes, is tested in tests/e2e/test_classroom_hub.py.
"""

from __future__ import annotations

from dashboard.hub import roster
from dashboard.hub.seats import NodeState

NODES = {
    "n1": NodeState("node1", "ready", "active"),
    "n2": NodeState("node2", "ready", "drain"),
    "n3": NodeState("node3", "down", "active"),
}
PROGRESS = {
    "student": "ada",
    "checks_done": 3,
    "checks_total": 12,
    "builds": 2,
    "runs": 1,
    "containers": 1,
    "running": 0,
    "images": 1,
    "image_names": ["ada/iris-model:1.0"],
    "last_activity": "2026-12-03T09:00:00+00:00",
    "node": "node1",
}


def user(name, *, ready=False, pending=None, pinned="", admin=False, server=True):
    servers = {}
    if server:
        state = {"pinned_node": pinned} if pinned else {}
        servers[""] = {"ready": ready, "pending": pending, "url": f"/user/{name}/", "state": state}
    return {"name": name, "admin": admin, "servers": servers}


def test_rows_say_each_students_seat_and_the_machine_that_holds_their_things():
    users = [
        user("instructor", admin=True),
        user("ada", ready=True, pinned="n1"),
        user("bob", pinned="n2"),
        user("cy", pending="spawn"),
        user("dan", pinned="gone-node-id-1234"),
        user("eve", server=False),
        user("fay", pinned="n3"),
    ]
    rows = roster.rows_from(users, NODES, {"ada": PROGRESS, "cy": "no answer from the seat"})
    by = {r.student: r for r in rows}
    assert list(by) == ["ada", "bob", "cy", "dan", "eve", "fay"]  # the admin is not a student
    assert (by["ada"].seat, by["ada"].node.host, by["ada"].lost) == ("running", "node1", "")
    assert by["ada"].progress["builds"] == 2
    assert by["cy"].seat == "starting" and by["cy"].problem == "no answer from the seat"
    assert by["cy"].node is None and by["eve"].seat == "stopped"
    assert by["bob"].lost.startswith("node2 is drained: their images, history")
    assert "classroom move bob" in by["bob"].lost
    assert by["dan"].lost.startswith("gone-node-id is no longer in the Swarm")
    assert "join gone-node-id to the Swarm again" in by["dan"].lost
    assert by["fay"].lost.startswith("node3 is down") and "start node3" in by["fay"].lost
    assert "docker node update --availability active node2" in by["bob"].lost


def test_a_lost_machine_names_the_images_the_student_had_there():
    row = roster.RosterRow("ada", "running", NODES["n2"], PROGRESS)
    assert row.lost.startswith("node2 is drained: ada/iris-model:1.0, history and working copies")


def test_the_page_escapes_names_and_offers_a_clean_up_only_for_running_seats():
    rows = roster.rows_from(
        [user("ada", ready=True, pinned="n1"), user("bob", pinned="n2")], NODES, {"ada": PROGRESS}
    )
    page = roster.render(rows, '<input type="hidden" name="_xsrf" value="x">', said="<b>hi</b>")
    assert 'id="clean-ada"' in page and 'id="clean-bob"' not in page
    assert "3 of 12" in page and "node1 (ready)" in page and "node2 (drained)" in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
    assert page.count('name="_xsrf"') == 1  # one form: ada's
    assert "No student has signed up yet" in roster.render([], "")
