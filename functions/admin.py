"""Managing principals and reading the audit trail, from a shell on a machine that can reach the records.

    python -m functions.admin create-device kiosk-7 [--name "Front desk"]
    python -m functions.admin create-operator alice
    python -m functions.admin create-reviewer dana --name "Dana Smith"
    python -m functions.admin list
    python -m functions.admin rotate <key id> [--keep-old]
    python -m functions.admin revoke <key id>
    python -m functions.admin audit --subject-id alice | --device-id kiosk-7
    python -m functions.admin callback-secret kiosk-7
    python -m functions.admin verify-audit

It works on whichever records backend the settings choose (the SQLite file of
the embedded default, or Cosmos DB with the caller's Entra ID sign-in). A new
key's secret is printed once and kept nowhere: hand it to its holder. Every
change is written to the audit trail as done by `cli:<user>`.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import getpass
import json
import sys

from dataclasses import dataclass

from .errors import BioauthError
from .crypto.service_secrets import Secrets, load_key_vault_secrets, load_local_secrets
from .storage.audit import AuditEvent, AuditLog, open_audit_log
from .storage.api_keys import CredentialStore, IssuedKey, key_event
from .storage.records import open_record_store

ISSUE_COMMANDS = {"create-device": "device", "create-operator": "operator", "create-reviewer": "reviewer"}


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _audit_key(services, action: str, key, actor: str) -> None:
    services.audit.append(key_event(action, key, actor, "operator", actor))


def _print_issued(issued: IssuedKey, as_json: bool) -> None:
    info = issued.info
    if as_json:
        print(json.dumps({**dataclasses.asdict(info), "token": issued.token}))
        return
    print(f"{info.role} {info.principal_id!r} ({info.name}): key id {info.key_id}")
    print(f"credential (shown once, send as 'Authorization: Bearer <credential>'):\n{issued.token}")


def run(argv: list[str], services) -> int:
    """`services`: anything with `credentials`, `audit` and `secrets` (the CLI's Stores, or the service's Services)."""
    parser = argparse.ArgumentParser(prog="python -m functions.admin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, role in ISSUE_COMMANDS.items():
        p = sub.add_parser(command, help=f"a new {role} and its first key")
        p.add_argument("principal_id", help="device id" if role == "device" else "the person's id")
        p.add_argument("--name", help="display name (reviewers: shown on their verdicts)")
    sub.add_parser("list", help="every key: principal, role, state (never secrets)")
    p = sub.add_parser("revoke", help="a key stops working at once")
    p.add_argument("key_id")
    p = sub.add_parser("rotate", help="a new key for the same principal; the old one is revoked unless --keep-old")
    p.add_argument("key_id")
    p.add_argument("--keep-old", action="store_true", help="keep the old key until revoked (changeover on a fleet)")
    p = sub.add_parser("audit", help="the audit trail, oldest first")
    p.add_argument("--subject-id")
    p.add_argument("--device-id")
    p.add_argument("--actor-id")
    p.add_argument("--limit", type=int, default=200)
    p = sub.add_parser("callback-secret", help="the key a device checks its callbacks' signatures with (base64)")
    p.add_argument("device_id")
    sub.add_parser("verify-audit", help="recompute the audit trail's hash chain: exit 1 when an event was edited or deleted")
    args = parser.parse_args(argv)

    actor, store = _actor(), services.credentials
    try:
        if args.command in ISSUE_COMMANDS:
            issued = store.issue(ISSUE_COMMANDS[args.command], args.principal_id, name=args.name, created_by=actor)
            _audit_key(services, "key.created", issued, actor)
            _print_issued(issued, args.json)
        elif args.command == "rotate":
            issued = store.rotate(args.key_id, created_by=actor, keep_old=args.keep_old)
            _audit_key(services, "key.rotated", issued, actor)
            _print_issued(issued, args.json)
        elif args.command == "revoke":
            info = store.revoke(args.key_id)
            _audit_key(services, "key.revoked", info, actor)
            print(json.dumps(dataclasses.asdict(info)) if args.json else f"revoked {info.key_id} ({info.role} {info.principal_id!r})")
        elif args.command == "list":
            keys = store.all()
            if args.json:
                print(json.dumps([dataclasses.asdict(c) for c in keys]))
            for c in [] if args.json else keys:
                state = "active" if c.active else f"revoked {c.revoked_at}"
                print(f"{c.key_id}  {c.role:<8}  {c.principal_id:<24}  {c.name:<24}  created {c.created_at}  {state}")
        elif args.command == "callback-secret":
            secret = base64.b64encode(services.secrets.device_callback_secret(args.device_id)).decode()
            services.audit.append(AuditEvent(action="device.callback_secret_shown", actor_id=actor, actor_role="operator",
                                             device_id=args.device_id, actor_key_id=actor))
            print(json.dumps({"device_id": args.device_id, "callback_secret": secret}) if args.json else
                  f"callback secret of device {args.device_id!r} (base64; its HMAC key is the decoded bytes):\n{secret}")
        elif args.command == "audit":
            events = services.audit.query(subject_id=args.subject_id, device_id=args.device_id, actor_id=args.actor_id,
                                          limit=args.limit)
            for e in events:
                print(json.dumps(dataclasses.asdict(e)) if args.json else
                      f"{e.at}  {e.action:<22}  {e.actor_role}:{e.actor_id}  subject={e.subject_id} device={e.device_id} "
                      f"verification={e.verification_id}  {json.dumps(e.details, sort_keys=True)}")
        elif args.command == "verify-audit":
            return verify_audit(services.audit, args.json)
    except BioauthError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    return 0


def verify_audit(audit: AuditLog, as_json: bool) -> int:
    """The chain's verdict; 0 when every link holds. Keep the printed head elsewhere: a tail cut off after it is
    found by comparing it with a later run."""
    if not hasattr(audit, "verify_chain"):
        print("error: this audit trail has no hash chain (Cosmos DB: the container is written with create only)",
              file=sys.stderr)
        return 2
    report = audit.verify_chain()
    if as_json:
        print(json.dumps({**dataclasses.asdict(report), "ok": report.ok}))
    elif report.ok:
        print(f"audit trail intact: {report.events} chained events ({report.unchained} from before the chain); "
              f"head {report.head}")
    else:
        print(f"audit trail BROKEN at event seq {report.broken_at}: {report.problem} "
              f"({report.events} events verified before it)", file=sys.stderr)
    return 0 if report.ok else 1


@dataclass(frozen=True)
class Stores:
    """What the CLI works on: the credential store and the audit trail, beside the records the settings name, and the secrets."""

    credentials: CredentialStore
    audit: AuditLog
    secrets: Secrets


def open_stores(settings) -> Stores:
    records = open_record_store(settings)
    secrets = load_key_vault_secrets(settings.key_vault_url) if settings.key_vault_url else load_local_secrets(settings.data_dir, settings.secrets_file)
    return Stores(credentials=CredentialStore(records), audit=open_audit_log(settings, records, secrets.template_secret), secrets=secrets)


def main(argv: list[str] | None = None) -> int:
    from .settings import get_settings, load_local_settings

    load_local_settings()
    return run(sys.argv[1:] if argv is None else argv, open_stores(get_settings()))


if __name__ == "__main__":
    sys.exit(main())
