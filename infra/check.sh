#!/usr/bin/env bash
# Static security check of the Bicep in infra/ with checkov.
#
# checkov lives in its own virtual environment (it pins versions that clash
# with the app's), created on first use and reused afterwards:
#   CHECKOV_VENV   where (default: .tools/checkov-venv in the checkout, gitignored)
# Fails unless every file parses and no check fails. checkov itself exits 0
# on parse errors, so the JSON summary decides.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${CHECKOV_VENV:-$repo/.tools/checkov-venv}"
version="3.3.30"
python="${PYTHON:-python3}"

if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$version"; then
  echo "installing checkov $version into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$version" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
  "$venv/bin/checkov" --version >/dev/null
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
cd "$repo"
# BC_SKIP_MAPPING: no call home for the check-id mapping.
BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" -d infra --framework bicep --skip-download \
  -o json >"$report" 2>/dev/null || true

"$venv/bin/python" - "$report" <<'PY'
import json
import sys

text = open(sys.argv[1]).read().strip()
if not text:
    sys.exit("checkov printed nothing: nothing scanned?")
data = json.loads(text)
# One framework gives a dict, several a list of dicts.
reports = data if isinstance(data, list) else [data]
totals = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
failed, skipped, unparsed = [], [], []
for report in reports:
    if "summary" not in report:  # "no resources found" form
        continue
    for key in totals:
        totals[key] += int(report["summary"].get(key, 0))
    results = report.get("results", {})
    failed += results.get("failed_checks", [])
    skipped += results.get("skipped_checks", [])
    unparsed += results.get("parsing_errors", [])

print("checkov (bicep): passed {passed}, failed {failed}, skipped {skipped}, "
      "parsing errors {parsing_errors}".format(**totals))
for check in skipped:
    print(f"  skipped {check['check_id']} {check['resource']} ({check['file_path']})")
for check in failed:
    print(f"  FAILED  {check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}")
for path in unparsed:
    print(f"  PARSE ERROR {path}")
if totals["passed"] == 0:
    sys.exit("no check ran: is infra/ empty?")
if totals["parsing_errors"] or totals["failed"]:
    sys.exit(1)
PY
