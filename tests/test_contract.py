"""The app's shape: each step's output queue is the next step's trigger queue; routes, methods and auth levels."""

import json
from pathlib import Path

from functions.pipeline import FIRST_STEP, NEXT_STEPS, STEP_QUEUES
from functions.triggers import STORAGE_CONNECTION

ROOT = Path(__file__).resolve().parent.parent


def _by_trigger(functions_index):
    queue_fns, http_fns = {}, {}
    for f in functions_index:
        t = f.get_trigger()
        outs = sorted(b.queue_name for b in f.get_bindings() if b is not t and b.type == "queue")
        if t.type == "queueTrigger":
            queue_fns[t.queue_name] = (f, t, outs)
        elif t.type == "httpTrigger":
            methods = tuple(sorted(str(getattr(m, "value", m)).upper() for m in t.methods))
            http_fns[(t.route, methods)] = (f, t, outs)
    return queue_fns, http_fns


def test_every_step_has_one_queue_trigger(functions_index):
    queue_fns, _ = _by_trigger(functions_index)
    assert sorted(queue_fns) == sorted(STEP_QUEUES)


def test_each_output_queue_is_the_next_steps_trigger(functions_index):
    queue_fns, _ = _by_trigger(functions_index)
    for step, (f, trigger, outs) in queue_fns.items():
        assert outs == sorted(NEXT_STEPS[step]), f"{step} writes to {outs}"
        for out in outs:
            assert out in queue_fns, f"{step} writes to {out}, which no function reads"
        assert trigger.connection == STORAGE_CONNECTION


def test_the_main_path_visits_every_step_in_order():
    """Following each step's first successor from the first step walks the whole chain once."""
    order, step = [], FIRST_STEP
    while step:
        order.append(step)
        step = NEXT_STEPS[step][0] if NEXT_STEPS[step] else None
    assert order == list(STEP_QUEUES)


def test_decode_enqueues_the_first_step(functions_index):
    _, http_fns = _by_trigger(functions_index)
    f, trigger, outs = http_fns[("v1/verifications", ("POST",))]
    assert FIRST_STEP in outs  # async path
    assert "review" in outs and "notify" in outs  # the sync path hands these to their queues


def test_routes_methods_and_auth_levels(functions_index):
    _, http_fns = _by_trigger(functions_index)
    expected = {
        ("v1/verifications", ("POST",)): "FUNCTION",
        ("v1/verifications/{id}", ("GET",)): "FUNCTION",
        ("v1/subjects/{subject_id}/enrolment", ("POST",)): "FUNCTION",
        ("v1/subjects/{subject_id}", ("DELETE",)): "FUNCTION",
        ("v1/subjects/{subject_id}/renewal", ("POST",)): "FUNCTION",
        ("v1/reviews/{id}", ("POST",)): "FUNCTION",
        ("v1/reviews/{id}", ("GET",)): "FUNCTION",
        ("v1/reviews", ("GET",)): "FUNCTION",
        ("v1/blobs/{*ref}", ("GET",)): "ANONYMOUS",  # checked by its own HMAC signature instead
        ("health", ("GET",)): "ANONYMOUS",
    }
    got = {key: str(getattr(t.auth_level, "name", t.auth_level)).upper() for key, (f, t, _) in http_fns.items()}
    assert got == expected


def test_messages_never_carry_images():
    from functions.messages import StepMessage

    text = StepMessage("v1", "alice", {"face": "images/verifications/v1/face.jpg"}).to_json()
    assert len(text.encode()) < 1024


def test_host_json_queue_settings_are_what_the_code_assumes():
    from functions.settings import Settings

    host = json.loads((ROOT / "host.json").read_text())
    q = host["extensions"]["queues"]
    s = Settings.from_env({})
    assert s.max_dequeue_count == q["maxDequeueCount"]
    assert host["extensions"]["http"]["routePrefix"] == "api"
