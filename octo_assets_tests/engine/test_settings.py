"""Every wrong setting a newcomer can make is said in one sentence that names the setting and the
fix, by the functions `make run` asks before it writes anything: settings.whole_number and
settings.seconds (as resources.resources_from_env and partitions.days_per_run read them), and
resources.setting_problems (folders, files, S3 credentials). That `python -m octo_assets.run`
prints such a sentence alone, without a traceback, and writes nothing: integration/test_commands.py."""

import os

import pytest

from octo_assets import settings, storage
from octo_assets.partitions import days_per_run
from octo_assets.resources import build_resources, resources_from_env, setting_problems
from octo_assets.settings import SettingError
from octo_assets_tests.support.commands import NO_AWS

KEYS = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
NUMBERS = ("OCTO_WORKERS", "OCTO_WORKER_TIMEOUT_S", "OCTO_MEMORY_MB", "OCTO_LANDING_OPEN_DAYS", "OCTO_RETENTION_DAYS")


def environ(monkeypatch, values: dict) -> None:
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.fixture
def settings_of(sample_workspace, monkeypatch):
    """settings_of(**overrides): the sentences `make run` would stop with, the workspace's settings
    and these overrides in the environment (None unsets one); [] if it would go on."""

    def sentences(**overrides) -> list[str]:
        ws = sample_workspace
        base = {"OCTO_READINGS_DIR": str(ws.readings), "OCTO_SOURCE_DB": str(ws.source_db)}
        base |= {"OCTO_LAKE_DIR": str(ws.lake), "OCTO_WAREHOUSE": str(ws.warehouse)}
        for name in (*NUMBERS, "OCTO_DAYS_PER_RUN", "OCTO_STAGING_DIR"):
            base[name] = None
        environ(monkeypatch, base | overrides)
        try:  # read as the definitions load
            days_per_run()
            resources = resources_from_env()
        except SettingError as exc:
            return [str(exc)]
        return setting_problems(resources)

    return sentences


def one(sentences: list[str]) -> str:
    (line,) = sentences
    assert "\n" not in line
    return line


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("OCTO_READINGS_DIR", "{tmp}/nowhere", "is not a folder; point OCTO_READINGS_DIR at the folder"),
        ("OCTO_SOURCE_DB", "{tmp}/missing.db", "does not exist; point OCTO_SOURCE_DB at the SQLite database file"),
        ("OCTO_SOURCE_DB", "{readings}/0432df65f7.json", "is not a SQLite database"),
        ("OCTO_LAKE_DIR", "{readings}/0432df65f7.json/lake", "json is a file; point OCTO_LAKE_DIR at a folder"),
        ("OCTO_WAREHOUSE", "{tmp}", "is a folder; set OCTO_WAREHOUSE to a file path"),
    ],
)
def test_a_wrong_location_is_one_clear_sentence(settings_of, sample_workspace, tmp_path, setting, value, says):
    value = value.format(tmp=tmp_path, readings=sample_workspace.readings)
    line = one(settings_of(**{setting: value}))
    assert line.startswith(f"{setting}: {value}")
    assert says in line


def test_the_workspace_itself_has_no_problem(settings_of):
    """The control of this module: the same settings with nothing wrong stop nothing."""
    assert settings_of() == []


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("OCTO_MEMORY_MB", "1", "OCTO_MEMORY_MB: 1 is below the minimum (16); set it to 16 or more"),
        ("OCTO_MEMORY_MB", "15", "OCTO_MEMORY_MB: 15 is below the minimum (16)"),
        ("OCTO_MEMORY_MB", "1.5", "OCTO_MEMORY_MB: '1.5' is not a whole number of megabytes"),
        ("OCTO_MEMORY_MB", "lots", "OCTO_MEMORY_MB: 'lots' is not a whole number of megabytes"),
        (
            "OCTO_WORKERS",
            "0",
            "OCTO_WORKERS: 0 is below the minimum (1); set it to 1 or more (at most 1,024), or unset",
        ),
        ("OCTO_WORKERS", "two", "OCTO_WORKERS: 'two' is not a whole number of processes; set it to 1 or more"),
        ("OCTO_WORKER_TIMEOUT_S", "soon", "OCTO_WORKER_TIMEOUT_S: 'soon' is not a number of seconds above 0"),
        ("OCTO_WORKER_TIMEOUT_S", "0", "OCTO_WORKER_TIMEOUT_S: '0' is not a number of seconds above 0"),
        ("OCTO_WORKER_TIMEOUT_S", "nan", "OCTO_WORKER_TIMEOUT_S: 'nan' is not a number of seconds above 0"),
        ("OCTO_LANDING_OPEN_DAYS", "-1", "OCTO_LANDING_OPEN_DAYS: '-1' is not a whole number of days"),
        ("OCTO_LANDING_OPEN_DAYS", "0", "OCTO_LANDING_OPEN_DAYS: 0 is below the minimum (1)"),
        ("OCTO_DAYS_PER_RUN", "two", "OCTO_DAYS_PER_RUN: 'two' is not a whole number of days"),
        ("OCTO_DAYS_PER_RUN", "0", "OCTO_DAYS_PER_RUN: 0 is below the minimum (1); set it to 1 or more"),
        (
            "OCTO_RETENTION_DAYS",
            "0",
            "OCTO_RETENTION_DAYS: 0 is below the minimum (1); set it to 1 or more (at most 36,500), or unset it",
        ),
        ("OCTO_RETENTION_DAYS", "a year", "OCTO_RETENTION_DAYS: 'a year' is not a whole number of days"),
        ("OCTO_RETENTION_DAYS", "7.5", "OCTO_RETENTION_DAYS: '7.5' is not a whole number of days"),
        (
            "OCTO_WORKERS",
            "1025",
            "OCTO_WORKERS: '1025' is above the maximum (1,024); set it to 1,024 or less, or unset",
        ),
        (
            "OCTO_RETENTION_DAYS",
            "36501",
            "OCTO_RETENTION_DAYS: '36501' is above the maximum (36,500); set it to 36,500",
        ),
        ("OCTO_LANDING_OPEN_DAYS", "99999999", "OCTO_LANDING_OPEN_DAYS: '99999999' is above the maximum (36,500)"),
        ("OCTO_WORKER_TIMEOUT_S", "inf", "OCTO_WORKER_TIMEOUT_S: 'inf' is not a number of seconds above 0 and at most"),
        (
            "OCTO_WORKER_TIMEOUT_S",
            "1e10",
            "OCTO_WORKER_TIMEOUT_S: '1e10' is not a number of seconds above 0 and at most",
        ),
    ],
)
def test_a_number_setting_out_of_range_names_its_range(settings_of, setting, value, says):
    assert one(settings_of(**{setting: value})).startswith(says)


# digits Python's str.isdigit() accepts: superscripts and circled digits int() refuses, and the
# digits of other scripts it takes; a whole-number setting is written in ASCII digits only
OTHER_DIGITS = ["²", "¹⁰", "①", "4²", "٣", "３", "१२"]


@pytest.mark.parametrize("setting", ["OCTO_WORKERS", "OCTO_MEMORY_MB", "OCTO_RETENTION_DAYS", "OCTO_DAYS_PER_RUN"])
@pytest.mark.parametrize("value", OTHER_DIGITS)
def test_a_whole_number_in_other_digits_is_the_projects_sentence_not_pythons(settings_of, setting, value):
    line = one(settings_of(**{setting: value}))
    assert line.startswith(f"{setting}: {value!r} is not a whole number of ") and "set it to" in line
    assert "invalid literal" not in line


# every number setting, and the most each may be (settings.MAXIMUM)
MOST = {
    "OCTO_WORKERS": "1024",
    "OCTO_MEMORY_MB": "1048576",
    "OCTO_LANDING_OPEN_DAYS": "36500",
    "OCTO_RETENTION_DAYS": "36500",
    "OCTO_DAYS_PER_RUN": "36500",
    "OCTO_WORKER_TIMEOUT_S": "31622400",
}
# what Python would otherwise say of these: "invalid literal for int()", "could not convert
# string to float", "Exceeds the limit (4300 digits)", or nothing (a float of other scripts'
# digits, inf, a number too large for a C int, a date, a clock), failing later, deep in a run
WRONG = [*OTHER_DIGITS, "½", "-1", "lots", "0x10", "1e999", "inf", "nan", "9" * 5000]
PYTHONS_WORDS = ("invalid literal", "could not convert", "Exceeds the limit", "int()", "float()")


@pytest.mark.parametrize("setting", list(MOST))
@pytest.mark.parametrize("value", WRONG, ids=lambda value: value if len(value) < 10 else f"{len(value)} digits")
def test_every_number_setting_refuses_a_wrong_value_in_one_sentence_naming_both(settings_of, setting, value):
    line = one(settings_of(**{setting: value}))
    assert line.startswith(f"{setting}: {settings.shown(value)} is ") and "set it to" in line
    assert len(line) < 250  # a 5,000-digit value is quoted by its start
    assert not any(words in line for words in PYTHONS_WORDS)


@pytest.mark.parametrize("setting", list(MOST))
def test_every_number_setting_takes_its_maximum_and_refuses_one_more(settings_of, setting):
    assert settings_of(**{setting: MOST[setting]}) == []
    line = one(settings_of(**{setting: str(int(MOST[setting]) + 1)}))
    assert line.startswith(f"{setting}: '{int(MOST[setting]) + 1}' is ")
    assert f"{int(MOST[setting]):,}" in line  # the maximum, named


def test_whole_number_settings_take_ascii_digits_around_blanks(monkeypatch):
    for raw, read in [("  ", 256), (" 64 ", 64), ("0064", 64), ("\t17\n", 17)]:
        monkeypatch.setenv("OCTO_MEMORY_MB", raw)
        assert settings.whole_number("OCTO_MEMORY_MB", 256, 16, "megabytes", "or unset it") == read
    for raw in ["+64", "6_4", "6 4", "64.0", "1e2"]:
        monkeypatch.setenv("OCTO_MEMORY_MB", raw)
        with pytest.raises(SettingError) as raised:
            settings.whole_number("OCTO_MEMORY_MB", 256, 16, "megabytes", "or unset it")
        assert str(raised.value).startswith(f"OCTO_MEMORY_MB: {raw!r} is not a whole number of megabytes")


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


def test_every_number_setting_reaches_its_resource(settings_of, monkeypatch):
    """Read once as the definitions load, each number lands where the engine takes it from."""
    assert settings_of(OCTO_WORKERS="3", OCTO_WORKER_TIMEOUT_S="90.5", OCTO_MEMORY_MB="16") == []
    monkeypatch.setenv("OCTO_LANDING_OPEN_DAYS", "5")
    monkeypatch.setenv("OCTO_RETENTION_DAYS", "7")
    monkeypatch.setenv("OCTO_DAYS_PER_RUN", "4")
    resources = resources_from_env()
    workers = resources["workers"]
    assert (workers.processes, workers.task_timeout_s, workers.memory_mb) == (3, 90.5, 16)
    assert resources["landing"].open_days == 5
    assert resources["lake"].retention_days == 7
    assert resources["lake"].lake().retention_days == 7  # what housekeeping and the tables' log retention use
    assert days_per_run() == 4


# -- S3 without credentials: one sentence, whichever settings are on S3 -----------------------------


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
def test_s3_without_credentials_is_one_sentence_naming_the_keys(settings_of, on_s3, extra, why):
    urls = {"OCTO_READINGS_DIR": "s3://bucket/in", "OCTO_LAKE_DIR": "s3://bucket/lake", "OCTO_WAREHOUSE": "s3://b/w"}
    line = one(settings_of(**{**NO_AWS, **extra, **{s: urls[s] for s in on_s3}}))
    assert line.startswith(", ".join(on_s3) + " ")
    assert why in line and KEYS in line
    assert line.count(KEYS) == 1  # once, not once per setting


def test_credentials_are_named_once_among_the_other_problems(tmp_path, monkeypatch):
    environ(monkeypatch, NO_AWS)
    resources = build_resources("s3://b/in", str(tmp_path / "missing.db"), "s3://b/lake", "s3://b/w.duckdb")
    problems = setting_problems(resources)
    assert len(problems) == 2, problems
    assert problems[0].startswith("OCTO_READINGS_DIR, OCTO_LAKE_DIR, OCTO_WAREHOUSE are on S3, but no AWS")
    assert problems[1].startswith("OCTO_SOURCE_DB:") and "does not exist" in problems[1]


def test_credentials_from_a_profile_count_as_credentials(s3_server, tmp_path, monkeypatch):
    """Not only the two keys: a profile botocore finds is credentials too (no sentence about them).
    With credentials, the lake's bucket is asked for: the session's S3 server answers at once."""
    environ(monkeypatch, NO_AWS)
    profile = tmp_path / "credentials"
    profile.write_text("[default]\naws_access_key_id = someone\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(profile))
    resources = build_resources(str(tmp_path), str(tmp_path / "missing.db"), "s3://b/lake", str(tmp_path / "w"))
    assert not any("but no AWS credentials" in problem for problem in setting_problems(resources))
    assert storage.credentials_problem() is None
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert storage.credentials_problem() == "no AWS credentials were found"


# -- a folder setting that names a file -------------------------------------------------------------


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
def test_a_folder_setting_that_names_a_file_says_so(settings_of, sample_workspace, tmp_path, setting, value, says):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    line = one(settings_of(**{setting: value.format(file=file)}))
    assert line.startswith(f"{setting}: ") and says.format(file=file) in line
    lake = sample_workspace.lake
    assert not lake.exists() or not any(lake.iterdir())  # asking wrote nothing
