"""The step table: every step of the chain, in order, with the queue that triggers it and where each branch leads.

A step returns the branch it took ("ok", "spoof", "unusable_face", ...); its
row maps the branch to the step that follows, or None where the chain ends.
The single source of the chain's wiring: function_app.py generates one queue
trigger per row (its output bindings are the steps its branches lead to), the
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
    Step("face-crop", "face-crop", {"ok": "antispoof", "unusable_face": "decide", "retake": "decide"}, face_crop_step, decodes_images=True),
    Step("antispoof", "antispoof", {"ok": "face-match", "spoof": "decide"}, antispoof_step),
    Step("face-match", "face-match", {"ok": "signature"}, face_match_step),
    Step("signature", "signature", {"ok": "decide"}, signature_step, decodes_images=True),
    Step("decide", "decide", {"review": "review", "callback": "notify", "no_callback": None}, decide_step),
    Step("review", "review", {"callback": "notify", "no_callback": None}, review_step, runs_in_sync_chain=False),
    Step("notify", "notify", {"done": None}, notify_step, runs_in_sync_chain=False, runs_after_failure=True),
))
