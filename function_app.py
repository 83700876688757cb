"""The Functions entry point: builds the app and registers one blueprint per step. Nothing else happens here."""

import azure.functions as func

from functions import antispoof, api, decide, decode, face_crop, face_match, notify, review, signature

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for module in (decode, face_crop, antispoof, face_match, signature, decide, review, notify, api):
    app.register_functions(module.bp)
