"""The Functions entry point: the HTTP routes, and one queue trigger per row of the step table.

The only place besides the HTTP edge that uses the Functions SDK: each
trigger reads its message, runs its step through the step runner and sets the
output binding of the queue the step hands on to.
"""

from __future__ import annotations

import inspect
from typing import Callable

import azure.functions as func

from functions.http.routes import bp as http_routes
from functions.log_context import configure_logging
from functions.runtime.intake import recover_stranded
from functions.runtime.services import get_services
from functions.runtime.step_runner import Step, run_step
from functions.settings import STORAGE_CONNECTION, get_settings
from functions.telemetry import configure_telemetry, observe_queues
from functions.steps.table import STEPS


def output_arg(queue: str) -> str:
    """The trigger's parameter name for an output queue (`to_face_match` for `face-match`)."""
    return "to_" + queue.replace("-", "_")


def handle_queue_message(step: str, msg: func.QueueMessage, outputs: dict[str, func.Out]) -> None:
    """Run one step for one message; the message goes on to the queue of the step the runner names."""
    text = msg.get_body().decode("utf-8")
    next_step = run_step(STEPS, step, text, int(getattr(msg, "dequeue_count", None) or 1), get_services())
    if next_step is not None:
        outputs[STEPS[next_step].queue].set(text)


def queue_trigger(step: Step) -> Callable[..., None]:
    """The trigger function of one step, with a parameter per output binding (the worker checks the signature)."""
    args = {output_arg(q): q for q in step.next_queues}

    def trigger(msg: func.QueueMessage, **outs: func.Out[str]) -> None:
        handle_queue_message(step.name, msg, {args[name]: out for name, out in outs.items()})

    parameters = [inspect.Parameter("msg", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=func.QueueMessage)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=func.Out[str]) for name in args]
    trigger.__signature__ = inspect.Signature(parameters, return_annotation=None)
    trigger.__annotations__ = {"msg": func.QueueMessage, **{name: func.Out[str] for name in args}, "return": None}
    trigger.__name__ = trigger.__qualname__ = step.name.replace("-", "_") + "_trigger"
    return trigger


def queue_statistics() -> dict[str, dict[str, float]]:
    """Depth, oldest message age and poison count of every step queue, read when the metrics exporter collects."""
    queues = get_services().queues
    return {q: {"depth": queues.count(q), "oldest_age_s": queues.oldest_age(q) or 0.0, "poison": queues.count(f"{q}-poison")}
            for q in STEPS.queues}


# Every minute in Azure (NCRONTAB with seconds); the local host runs timers every few seconds instead.
RECOVERY_SCHEDULE = "0 * * * * *"


def recover_stranded_requests(timer: func.TimerRequest) -> None:
    """The recovery sweep: verifications whose process died before sending their first message are sent on."""
    recover_stranded(get_services(), STEPS.first.queue)


settings = get_settings()
configure_logging(settings.log_format)
if configure_telemetry(settings.telemetry, connection_string=settings.appinsights_connection_string) != "none":
    observe_queues(queue_statistics)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_routes)
for step in STEPS:
    fn = queue_trigger(step)
    for queue in step.next_queues:
        fn = app.queue_output(arg_name=output_arg(queue), queue_name=queue, connection=STORAGE_CONNECTION)(fn)
    app.queue_trigger(arg_name="msg", queue_name=step.queue, connection=STORAGE_CONNECTION)(fn)
app.timer_trigger(schedule=RECOVERY_SCHEDULE, arg_name="timer", run_on_startup=False)(recover_stranded_requests)
