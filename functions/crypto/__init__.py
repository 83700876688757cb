"""Cryptography: the service's secrets (service_secrets.py) and the protection of face templates (template_protection.py)."""
