"""The biometric core: plain functions and result dataclasses, no storage, no queues.

- face_detection: find the one face to verify in a photo (`crop_face`, `detect_faces`), reasons for an unusable one;
- face_alignment: the embedding network's chip geometry and the warp onto it (`align_face`);
- face_matching: embeddings of aligned chips and their comparison with enrolled references (`embed_face`, `match_face`);
- quality: is the capture good enough to judge (sharpness, exposure, size, pose against shipped limits; `judge_capture`);
- liveness: the anti-spoofing ensemble's crops and scores (`member_crops`, `check_liveness`);
- signature_preparation: a signature image to its stored canvas (`prepare_signature`);
- signature_verification: features, the subject's writer model, the verdict (`build_writer_model`, `verify_signature`);
- decision: accepted, rejected or review from the checks' results (`decide`).

The steps, enrolment and model_export call these; the core itself reads only
the base (ONNX models and their manifests, errors), never storage, queues or
the step runner.
"""
