"""The app's shape against the step table: one trigger per step, its outputs are the steps its branches lead to; routes, methods and auth levels."""

import ast
import inspect
import json
from pathlib import Path

from functions.settings import STORAGE_CONNECTION
from functions.steps.table import STEPS

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


def test_every_step_has_one_queue_trigger_on_its_own_queue(functions_index):
    queue_fns, _ = _by_trigger(functions_index)
    assert sorted(queue_fns) == sorted(STEPS.queues)
    assert all(step.queue == step.name for step in STEPS)


def test_each_trigger_writes_to_exactly_its_steps_next_queues(functions_index):
    queue_fns, _ = _by_trigger(functions_index)
    for step in STEPS:
        f, trigger, outs = queue_fns[step.queue]
        assert outs == sorted(step.next_queues), f"{step.name} writes to {outs}"
        for out in outs:
            assert out in queue_fns, f"{step.name} writes to {out}, which no function reads"
        assert trigger.connection == STORAGE_CONNECTION
        assert f.get_function_name() == step.name.replace("-", "_") + "_trigger"


def test_the_main_path_visits_every_step_in_order():
    """Following each step's first successor from the first step walks the whole table once."""
    order, step = [], STEPS.first
    while step:
        order.append(step.name)
        step = STEPS[step.next_queues[0]] if step.next_queues else None
    assert order == [s.name for s in STEPS]


def _outcomes(node: ast.AST) -> set[str]:
    """The string literals an expression can evaluate to (a literal, or either side of `a if c else b`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _outcomes(node.body) | _outcomes(node.orelse)
    return set()


def _branches_in_code(function) -> set[str]:
    """The branch names a step function can return: StepOutcome(branch=...) literals, or what a name given there was set to."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(function)))
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function.__name__)
    assigned: dict[str, set[str]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, set()).update(_outcomes(node.value))
    found: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "StepOutcome":
            value = next(k.value for k in node.keywords if k.arg == "branch")
            found |= assigned[value.id] if isinstance(value, ast.Name) else _outcomes(value)
    return found


def test_each_step_takes_exactly_the_branches_its_row_names():
    """A step names branches, never steps: the table alone wires the chain."""
    for step in STEPS:
        assert _branches_in_code(step.function) == set(step.branches), step.name
        assert all(n is None or n in STEPS.steps for n in step.branches.values()), step.name


def test_a_branch_the_table_does_not_name_fails_the_request(embedded_services):
    from functions.messages import StepMessage
    from functions.runtime.step_runner import Step, StepOutcome, StepTable, run_step

    embedded_services.records.create("verifications", {"id": "v-branch", "subject_id": "alice", "status": "queued", "steps": {}})
    table = StepTable((Step("face-crop", "face-crop", {"ok": None}, lambda ctx: StepOutcome(result={}, branch="elsewhere")),))
    assert run_step(table, "face-crop", StepMessage("v-branch", "alice").to_json(), 1, embedded_services) is None
    record = embedded_services.records.get("verifications", "v-branch")
    assert record["status"] == "failed" and "elsewhere" in record["failure"]["message"]


def test_the_post_sends_its_own_messages(functions_index):
    """No output bindings: the POST holds its first message's lease in sync mode (the steps after the answer go to
    their queues from the route) and withdraws a record the queue refused."""
    _, http_fns = _by_trigger(functions_index)
    f, trigger, outs = http_fns[("v1/verifications", ("POST",))]
    assert outs == []
    assert [s.queue for s in STEPS if not s.runs_in_sync_chain] == ["review", "notify"]


def test_only_notify_runs_for_a_failed_request():
    assert STEPS.failure_notice is STEPS["notify"]
    assert [s.name for s in STEPS if s.runs_after_failure] == ["notify"]


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
        ("v1/health", ("GET",)): "FUNCTION",
        ("v1/me", ("GET",)): "FUNCTION",
        ("v1/audit", ("GET",)): "FUNCTION",
        ("v1/keys", ("GET",)): "FUNCTION",
        ("v1/keys", ("POST",)): "FUNCTION",
        ("v1/keys/{key_id}/rotation", ("POST",)): "FUNCTION",
        ("v1/keys/{key_id}", ("DELETE",)): "FUNCTION",
        ("v1/blobs/{*ref}", ("GET",)): "ANONYMOUS",  # checked by its own HMAC signature instead
        ("v1/references/{subject_id}/{kind}/{index}", ("GET",)): "ANONYMOUS",  # likewise
        ("health", ("GET",)): "ANONYMOUS",
        ("openapi.json", ("GET",)): "ANONYMOUS",
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


def test_each_function_declares_exactly_its_bindings_as_parameters_with_out_annotations(functions_index):
    """What the Python worker checks when it loads a function: the signature names every binding and only those,
    and output bindings are annotated func.Out (the queue triggers are generated, so this is not given)."""
    import inspect
    import typing

    import azure.functions as func
    from azure.functions.decorators.core import BindingDirection

    for f in functions_index:
        fn = f.get_user_function()
        bindings = {b.name: b for b in f.get_bindings() if b.name != "$return"}
        assert set(inspect.signature(fn).parameters) == set(bindings), f.get_function_name()
        hints = typing.get_type_hints(fn)
        for name, binding in bindings.items():
            is_out = typing.get_origin(hints.get(name)) is func.Out
            assert is_out == (BindingDirection(binding.direction) is BindingDirection.OUT), (f.get_function_name(), name)
