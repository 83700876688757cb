"""The `bioauth` command: enrol, verify, status, review, health. Prints the API's JSON answers.

The service and its key come from --url/--key, or BIOAUTH_URL and BIOAUTH_KEY (or BIOAUTH_KEY_FILE), or the local
host (http://127.0.0.1:7071/api and .bioauth/local-function-key). A principal's key (bioauth_...) is sent as
`Authorization: Bearer`; any other key as the function key (on one machine, the bootstrap admin). Exit status: 0 when the call succeeded (whatever
the decision; `verify --strict` gives 3 unless accepted), 1 on an API error, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .client import ApiError, BioauthClient, Verification, default_url


def _print(value) -> None:
    print(json.dumps(value.raw if isinstance(value, Verification) else value, indent=2))


def _summary(v: Verification) -> str:
    failure = (v.raw.get("failure") or {}).get("code")
    return f"{v.id}: {v.status}" + (f" ({', '.join(v.reasons)})" if v.reasons else f" ({failure})" if failure else "")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bioauth", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help=f"the API's base URL (default: BIOAUTH_URL or {default_url()})")
    p.add_argument("--key", help="a principal's key or the local function key (default: BIOAUTH_KEY, BIOAUTH_KEY_FILE "
                                 "or .bioauth/local-function-key)")
    p.add_argument("--key-file", type=Path, help="a file holding the key")
    p.add_argument("--retries", type=int, default=4, help="retries when the service answers 429 or 503 with Retry-After")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("enrol", help="enrol (or re-enrol) a subject")
    e.add_argument("--subject", required=True)
    e.add_argument("--face", type=Path, action="append", required=True, help="a face photo (1-10: repeat the option)")
    e.add_argument("--signature", type=Path, action="append", required=True, help="a signature (3-10: repeat the option)")

    v = sub.add_parser("verify", help="verify a claimed identity from a face photo and a signature")
    v.add_argument("--subject", required=True)
    v.add_argument("--face", type=Path, required=True)
    v.add_argument("--signature", type=Path, required=True)
    v.add_argument("--device-id", help="optional: the device is the key's")
    v.add_argument("--callback-url")
    v.add_argument("--sync", action="store_true", help="one round trip: the service answers with the decision")
    v.add_argument("--no-wait", action="store_true", help="print the queued verification and return at once")
    v.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the decision")
    v.add_argument("--strict", action="store_true", help="exit 3 unless the decision is 'accepted'")

    s = sub.add_parser("status", help="a verification's status, decision and step results")
    s.add_argument("id")

    r = sub.add_parser("review", help="the review inbox, a case, or a verdict")
    rsub = r.add_subparsers(dest="review_command", required=True)
    rl = rsub.add_parser("list", help="cases waiting for a reviewer, oldest first")
    rl.add_argument("--limit", type=int, default=50)
    rs = rsub.add_parser("show", help="a case, with short-lived image links")
    rs.add_argument("id")
    for verdict in ("accept", "reject"):
        rv = rsub.add_parser(verdict, help=f"{verdict} a case in review")
        rv.add_argument("id")
        rv.add_argument("--presentation", choices=("bona_fide", "attack"), help="what was in front of the camera")
        rv.add_argument("--note", default="")

    sub.add_parser("health", help="liveness (no key needed); with an operator's key, storage, models and queues")
    sub.add_parser("whoami", help="the caller as its key names it")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    key = args.key or (args.key_file.read_text().strip() if args.key_file else None)
    api = BioauthClient(args.url, key, retries=args.retries)
    try:
        if args.command == "enrol":
            _print(api.enrol(args.subject, args.face, args.signature))
        elif args.command == "verify":
            result = api.verify(args.subject, args.face, args.signature, sync=args.sync, wait=not args.no_wait,
                                timeout=args.timeout, device_id=args.device_id, callback_url=args.callback_url)
            _print(result)
            print(_summary(result), file=sys.stderr)
            if args.strict and result.outcome != "accepted":
                return 3
        elif args.command == "status":
            result = api.status(args.id)
            _print(result)
            print(_summary(result), file=sys.stderr)
        elif args.command == "review":
            if args.review_command == "list":
                _print(api.review_cases(args.limit))
            elif args.review_command == "show":
                _print(api.review_case(args.id))
            else:
                _print(api.review(args.id, args.review_command, presentation=args.presentation, note=args.note))
        elif args.command == "health":
            _print(api.health_details() if api.key else api.health())
        elif args.command == "whoami":
            _print(api.whoami())
    except ApiError as exc:
        print(f"bioauth: {exc}", file=sys.stderr)
        if exc.details:
            print(f"bioauth: details: {json.dumps(exc.details)}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"bioauth: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
