"""Settings: each default written once (functions/settings.py's SETTINGS), the same wherever it is documented,
and a value that cannot be used refused at start with an error naming the setting."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from functions.settings import SETTINGS, Setting, SettingError, Settings, folder, text

ROOT = Path(__file__).resolve().parent.parent
READ_BY_US = [s for s in SETTINGS if s.field]
# Where a deployment chooses other than the default on purpose.
AZURE_CHOICES = {"BIOAUTH_STORAGE": "azure", "BIOAUTH_RECORDS": "cosmos", "BIOAUTH_TELEMETRY": "azure"}
LOCAL_SAMPLE_CHOICES = {"BIOAUTH_STORAGE": "azure", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}  # Azurite


def _effective(setting: Setting, raw: str | None) -> object:
    return setting.value({setting.name: raw} if raw is not None else {})


def test_the_documented_default_is_the_effective_default_for_every_setting():
    effective = Settings.from_env({})
    for s in READ_BY_US:
        documented = None if s.default is None else s.read(s.default)
        assert getattr(effective, s.field) == documented, s.name


def test_every_field_comes_from_one_row_and_has_no_default_of_its_own():
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    filled = [s.field for s in READ_BY_US]
    assert len(filled) == len(set(filled)), "two settings fill the same field"
    assert set(fields) - set(filled) == {"max_dequeue_count"}  # host.json's, not an environment variable
    assert set(filled) <= set(fields)
    assert all(f.default is dataclasses.MISSING for f in fields.values()), "a default written in the dataclass too"


@pytest.mark.parametrize("setting", [s for s in READ_BY_US if s.read not in (text, folder)], ids=lambda s: s.name)
def test_a_value_that_cannot_be_used_is_refused_naming_the_setting(setting):
    with pytest.raises(SettingError) as refused:
        Settings.from_env({setting.name: "not-a-value"})
    assert setting.name in str(refused.value) and "'not-a-value'" in str(refused.value)


@pytest.mark.parametrize("name, value", [
    ("BIOAUTH_DELIVERY_TRIES", "0"), ("BIOAUTH_RATE_LIMIT_BURST", "0"), ("BIOAUTH_ONNX_INTRA_OP_THREADS", "-1"),
    ("BIOAUTH_MIN_FACE_SCORE", "1.5"), ("BIOAUTH_MAX_WAIT_SECONDS", "nan"), ("BIOAUTH_SYNC_LEASE_SECONDS", "0"),
    ("BIOAUTH_MAX_BODY_BYTES", "1e6"),
])
def test_a_value_out_of_its_range_is_refused_not_clamped(name, value):
    with pytest.raises(SettingError, match=name):
        Settings.from_env({name: value})


def test_an_empty_value_is_the_default_and_words_are_read_in_any_case():
    s = Settings.from_env({"BIOAUTH_MIN_FACE_SCORE": "", "BIOAUTH_STORAGE": "Azure", "BIOAUTH_RETAIN_ENROLMENT_IMAGES": "NO"})
    assert (s.min_face_score, s.storage, s.retain_enrolment_images) == (0.6, "azure", False)


def _documented_defaults() -> dict[str, str | None]:
    """setting -> default, from the Settings table in docs/operations.md (`A`, `B` | `1`, `2` | ...)."""
    section = (ROOT / "docs" / "operations.md").read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    defaults: dict[str, str | None] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("setting", "---"):
            continue
        names, values = re.findall(r"`([^`]+)`", cells[0]), re.findall(r"`([^`]+)`", cells[1])
        if values and len(values) != len(names):
            raise AssertionError(f"docs/operations.md settings row with {len(names)} names and {len(values)} defaults: {line}")
        defaults.update(zip(names, values or [None] * len(names)))
    return defaults


def test_the_settings_table_gives_the_same_defaults():
    by_name = {s.name: s for s in SETTINGS}
    documented = {name: value for name, value in _documented_defaults().items() if name in by_name}
    assert len(documented) >= 20
    for name, value in documented.items():
        assert _effective(by_name[name], value) == _effective(by_name[name], None), name


def _bicep_app_settings() -> dict[str, str]:
    bicep = (ROOT / "infra" / "main.bicep").read_text()
    params = dict(re.findall(r"^param (\w+) \w+ = (\S+)", bicep, re.M))
    values = {}
    for name, value in re.findall(r"name: '([^']+)'\s*\n\s*value: (.+)", bicep):
        if value.startswith("'") and "${" not in value:
            values[name] = value.strip("'")
        elif (m := re.fullmatch(r"string\((\w+)\)", value.strip())) and m.group(1) in params:
            values[name] = params[m.group(1)].strip("'")
    return values


def test_the_azure_app_settings_give_the_defaults_except_the_deployments_own_choices():
    by_name = {s.name: s for s in SETTINGS}
    given = {name: value for name, value in _bicep_app_settings().items() if name in by_name and by_name[name].field}
    assert len(given) >= 20
    for name, value in given.items():
        expected = AZURE_CHOICES.get(name)
        if expected is not None:
            assert value == expected, name
        else:
            assert _effective(by_name[name], value) == _effective(by_name[name], None), f"infra/main.bicep {name}={value}"


def test_the_local_settings_sample_gives_the_defaults_except_its_own_choices():
    by_name = {s.name: s for s in SETTINGS}
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for name, value in values.items():
        if name in by_name and by_name[name].field:
            expected = LOCAL_SAMPLE_CHOICES.get(name)
            if expected is not None:
                assert value == expected, name
            else:
                assert _effective(by_name[name], value) == _effective(by_name[name], None), name


def test_the_sample_local_settings_are_made_from_the_settings_table():
    """Regenerate with: python -m functions.settings > local.settings.sample.json"""
    import json

    from functions.settings import REPO_ROOT, SETTINGS, sample_local_settings

    sample = json.loads((REPO_ROOT / "local.settings.sample.json").read_text())
    assert sample == sample_local_settings()
    assert {s.name for s in SETTINGS if s.name.startswith("BIOAUTH_")} <= set(sample["Values"])


def test_azurite_files_and_the_demo_samples_are_ignored_by_git():
    from functions.settings import REPO_ROOT

    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert {"__azurite_db_*", "__blobstorage__/", "__queuestorage__/", "/samples/"} <= set(ignored)
