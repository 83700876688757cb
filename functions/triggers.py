"""The shape every queue trigger shares: read the message, run the step, set the output binding it leads to."""

from __future__ import annotations

import azure.functions as func

from .pipeline import StepFunction, run_step
from .services import get_services

# The storage connection every trigger and output binding uses (identity-based in Azure).
STORAGE_CONNECTION = "AzureWebJobsStorage"


def handle_queue_message(step: str, fn: StepFunction, msg: func.QueueMessage, outputs: dict[str, func.Out]) -> None:
    text = msg.get_body().decode("utf-8")
    next_step = run_step(step, fn, text, int(getattr(msg, "dequeue_count", None) or 1), get_services())
    if next_step is not None:
        outputs[next_step].set(text)
