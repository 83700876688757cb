"""Signature step: is the signature genuine or forged, against the subject's enrolled references?"""

from __future__ import annotations

import azure.functions as func

from .model_runtime import load_model
from .pipeline import StepContext, StepOutcome
from .triggers import STORAGE_CONNECTION, handle_queue_message


def signature_step(ctx: StepContext) -> StepOutcome:
    model = load_model("signature", ctx.services.settings.models_dir)
    raise NotImplementedError(model)


bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="signature", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_decide", queue_name="decide", connection=STORAGE_CONNECTION)
def signature_trigger(msg: func.QueueMessage, to_decide: func.Out[str]) -> None:
    handle_queue_message("signature", signature_step, msg, {"decide": to_decide})
