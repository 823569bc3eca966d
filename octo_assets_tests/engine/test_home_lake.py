"""A lake is named by where it is, however OCTO_LAKE_DIR spells it (octo_assets.home.lake_location):
the name a Dagster instance records for the lake it serves."""

import os

import pytest

from octo_assets.home import lake_location


def test_a_folder_is_one_lake_however_it_is_spelt(tmp_path, monkeypatch):
    lake = tmp_path / "data" / "lake"
    lake.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    spellings = ["data/lake", "./data/lake/", str(lake), f"{lake}/", f"{tmp_path}/data/../data/lake", "link/lake"]
    assert {lake_location(s) for s in spellings} == {str(lake.resolve())}
    monkeypatch.setenv("HOME", str(tmp_path))
    assert lake_location("~/data/lake") == str(lake.resolve())


def test_a_folder_not_made_yet_is_named_where_it_will_be(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lake_location("new/lake/") == str(tmp_path.resolve() / "new" / "lake")


def test_another_folder_is_another_lake(tmp_path):
    assert lake_location(str(tmp_path / "a")) != lake_location(str(tmp_path / "b"))


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:8333"])
def test_an_s3_prefix_is_one_lake_with_or_without_a_trailing_slash(monkeypatch, endpoint):
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint + "/")
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    names = {lake_location(s) for s in ["s3://lake/prod", "s3://lake/prod/", "s3://lake/prod//"]}
    assert names == {f"s3://lake/prod at {endpoint}" if endpoint else "s3://lake/prod"}


def test_the_same_prefix_on_another_s3_service_or_on_disk_is_another_lake(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    on_aws = lake_location("s3://lake/prod")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    assert lake_location("s3://lake/prod") != on_aws
    monkeypatch.chdir(tmp_path)
    os.makedirs("s3:/lake/prod")  # a folder that happens to be spelt like the URL
    assert lake_location("s3:/lake/prod") not in {on_aws, lake_location("s3://lake/prod")}
