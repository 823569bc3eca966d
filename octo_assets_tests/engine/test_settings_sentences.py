"""Each wrong setting a newcomer can make stops `make run` with one sentence that names the
setting and the fix, before anything is written: S3 without credentials (once, whichever
settings are on S3), a folder setting that names a file, a number out of range."""

import os

import pytest

from octo_assets import settings, storage
from octo_assets.resources import build_resources, setting_problems
from octo_assets_tests.support.commands import one_sentence, run_main

# botocore must find no credentials of this machine's: no files, no instance role
NO_AWS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}
KEYS = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


@pytest.mark.parametrize(
    "on_s3, extra, why",
    [
        (["OCTO_LAKE_DIR"], {}, "is on S3, but no AWS credentials were found"),
        (["OCTO_READINGS_DIR"], {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "is on S3, but no AWS credentials"),
        (
            ["OCTO_READINGS_DIR", "OCTO_LAKE_DIR", "OCTO_WAREHOUSE"],
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
            "are on S3, but no AWS credentials were found",
        ),
        (["OCTO_LAKE_DIR"], {"AWS_ACCESS_KEY_ID": "someone"}, "AWS_SECRET_ACCESS_KEY is not set (the other key is)"),
        (["OCTO_WAREHOUSE"], {"AWS_SECRET_ACCESS_KEY": "secret"}, "AWS_ACCESS_KEY_ID is not set (the other key is)"),
    ],
)
def test_s3_without_credentials_is_one_sentence_naming_the_keys(sample_workspace, tmp_path, on_s3, extra, why):
    urls = {"OCTO_READINGS_DIR": "s3://bucket/in", "OCTO_LAKE_DIR": "s3://bucket/lake", "OCTO_WAREHOUSE": "s3://b/w"}
    line = one_sentence(run_main(sample_workspace, tmp_path, **{**NO_AWS, **extra, **{s: urls[s] for s in on_s3}}))
    assert line.startswith(", ".join(on_s3) + " ")
    assert why in line and KEYS in line
    assert line.count(KEYS) == 1  # once, not once per setting
    assert not sample_workspace.lake.exists() or not any(sample_workspace.lake.iterdir())


def test_credentials_are_named_once_among_the_other_problems(tmp_path, monkeypatch):
    for name, value in NO_AWS.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    resources = build_resources("s3://b/in", str(tmp_path / "missing.db"), "s3://b/lake", "s3://b/w.duckdb")
    problems = setting_problems(resources)
    assert len(problems) == 2, problems
    assert problems[0].startswith("OCTO_READINGS_DIR, OCTO_LAKE_DIR, OCTO_WAREHOUSE are on S3, but no AWS")
    assert problems[1].startswith("OCTO_SOURCE_DB:") and "does not exist" in problems[1]


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("OCTO_LAKE_DIR", "{file}", "{file} is a file; point OCTO_LAKE_DIR at a folder"),
        ("OCTO_LAKE_DIR", "{file}/lake", "{file}/lake cannot be created: {file} is a file; point OCTO_LAKE_DIR at"),
        ("OCTO_STAGING_DIR", "{file}", "{file} is a file; point OCTO_STAGING_DIR at a folder"),
        ("OCTO_STAGING_DIR", "{file}/a/b", "{file}/a/b cannot be created: {file} is a file"),
        ("OCTO_WAREHOUSE", "{file}/w.duckdb", "{file}/w.duckdb cannot be created: {file} is a file; set OCTO_WAR"),
    ],
)
def test_a_folder_setting_that_names_a_file_says_so(sample_workspace, tmp_path, setting, value, says):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    line = one_sentence(run_main(sample_workspace, tmp_path, **{setting: value.format(file=file)}))
    assert line.startswith(f"{setting}: ") and says.format(file=file) in line
    assert not sample_workspace.lake.exists() or not any(sample_workspace.lake.iterdir())


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("OCTO_MEMORY_MB", "1", "OCTO_MEMORY_MB: 1 is below the minimum (16); set it to 16 or more"),
        ("OCTO_MEMORY_MB", "15", "OCTO_MEMORY_MB: 15 is below the minimum (16)"),
        ("OCTO_MEMORY_MB", "1.5", "OCTO_MEMORY_MB: '1.5' is not a whole number of megabytes"),
        ("OCTO_WORKERS", "0", "OCTO_WORKERS: 0 is below the minimum (1); set it to 1 or more, or unset it for one"),
        ("OCTO_WORKER_TIMEOUT_S", "soon", "OCTO_WORKER_TIMEOUT_S: 'soon' is not a number of seconds above 0"),
        ("OCTO_WORKER_TIMEOUT_S", "0", "OCTO_WORKER_TIMEOUT_S: '0' is not a number of seconds above 0"),
        ("OCTO_WORKER_TIMEOUT_S", "nan", "OCTO_WORKER_TIMEOUT_S: 'nan' is not a number of seconds above 0"),
        ("OCTO_LANDING_OPEN_DAYS", "-1", "OCTO_LANDING_OPEN_DAYS: '-1' is not a whole number of days"),
        ("OCTO_DAYS_PER_RUN", "two", "OCTO_DAYS_PER_RUN: 'two' is not a whole number of days"),
        (
            "OCTO_RETENTION_DAYS",
            "0",
            "OCTO_RETENTION_DAYS: 0 is below the minimum (1); set it to 1 or more, or unset it for 430",
        ),  # noqa: E501
        ("OCTO_RETENTION_DAYS", "a year", "OCTO_RETENTION_DAYS: 'a year' is not a whole number of days"),
        ("OCTO_RETENTION_DAYS", "7.5", "OCTO_RETENTION_DAYS: '7.5' is not a whole number of days"),
    ],
)
def test_a_number_setting_out_of_range_names_its_range(sample_workspace, tmp_path, setting, value, says):
    assert says in one_sentence(run_main(sample_workspace, tmp_path, **{setting: value}))


def test_number_settings_take_their_default_when_unset_or_blank(monkeypatch):
    monkeypatch.setenv("OCTO_MEMORY_MB", "  ")
    assert settings.whole_number("OCTO_MEMORY_MB", 256, 16, "megabytes", "or unset it") == 256
    monkeypatch.setenv("OCTO_MEMORY_MB", " 64 ")
    assert settings.whole_number("OCTO_MEMORY_MB", 256, 16, "megabytes", "or unset it") == 64
    monkeypatch.delenv("OCTO_WORKER_TIMEOUT_S", raising=False)
    assert settings.seconds("OCTO_WORKER_TIMEOUT_S", 1800.0, "or unset it") == 1800.0
    monkeypatch.setenv("OCTO_WORKER_TIMEOUT_S", "2.5")
    assert settings.seconds("OCTO_WORKER_TIMEOUT_S", 1800.0, "or unset it") == 2.5
    assert os.environ["OCTO_WORKER_TIMEOUT_S"] == "2.5"


def test_credentials_from_a_profile_count_as_credentials(tmp_path, monkeypatch):
    """Not only the two keys: a profile botocore finds is credentials too (no sentence about them)."""
    for name, value in NO_AWS.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    profile = tmp_path / "credentials"
    profile.write_text("[default]\naws_access_key_id = someone\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(profile))
    resources = build_resources(str(tmp_path), str(tmp_path / "missing.db"), "s3://b/lake", str(tmp_path / "w"))
    assert not any("but no AWS credentials" in problem for problem in setting_problems(resources))
    assert storage.credentials_problem() is None
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert storage.credentials_problem() == "no AWS credentials were found"
