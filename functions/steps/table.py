"""The step table: every step of the chain, in order, with the queue that triggers it and where it may hand on.

The single source of the chain's wiring: function_app.py generates one queue
trigger per row (its output bindings are the row's next queues), the
synchronous API runs the rows marked for the sync chain in-process, the local
host serves what the app declares, and the contract test checks the app
against it. A step's queue has the step's name.
"""

from __future__ import annotations

from ..runtime.step_runner import Step, StepTable
from .antispoof import antispoof_step
from .decide import decide_step
from .face_crop import face_crop_step
from .face_match import face_match_step
from .notify import notify_step
from .review import review_step
from .signature import signature_step

STEPS = StepTable((
    Step("face-crop", "face-crop", ("antispoof", "decide"), face_crop_step, decodes_images=True),
    Step("antispoof", "antispoof", ("face-match", "decide"), antispoof_step),
    Step("face-match", "face-match", ("signature",), face_match_step),
    Step("signature", "signature", ("decide",), signature_step, decodes_images=True),
    Step("decide", "decide", ("review", "notify"), decide_step),
    Step("review", "review", ("notify",), review_step, runs_in_sync_chain=False),
    Step("notify", "notify", (), notify_step, runs_in_sync_chain=False, runs_after_failure=True),
))
