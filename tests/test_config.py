from pathlib import Path

import pytest
import yaml

from pipeline.config import ConfigError, load_config

from .conftest import REPO_ROOT


def write_config(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((REPO_ROOT / "config" / "district.yml").read_text())
    change(data)
    (tmp_path / "district.yml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_shipped_config_loads(config):
    assert set(config.windows) == {"fall", "winter", "spring"}
    assert config.privacy.min_cell_size == 10
    assert config.percentile_bands["default"] == (10.0, 25.0)


def test_window_dates_resolve_across_the_new_year(config):
    start, end = config.window_dates("2025-2026", "winter")
    assert (start.isoformat(), end.isoformat()) == ("2025-12-01", "2026-02-28")
    assert config.window_dates("2025-2026", "fall")[0].isoformat() == "2025-08-01"


def test_bad_value_names_key_and_value(tmp_path):
    def change(d):
        d["measures"]["dibels8_orf_wrc"]["max"] = "lots"

    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, change))
    message = str(err.value)
    assert "measures.dibels8_orf_wrc.max" in message
    assert "'lots'" in message
    assert "district.yml" in message


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"privacy\.min_cel_size"):
        load_config(write_config(tmp_path, lambda d: d["privacy"].update(min_cel_size=5)))


def test_bad_window_date_is_named(tmp_path):
    def change(d):
        d["windows"]["fall"]["start"] = "13-45"

    with pytest.raises(ConfigError, match=r"windows\.fall\.start.*13-45"):
        load_config(write_config(tmp_path, change))


def test_percentile_bands_must_rise(tmp_path):
    with pytest.raises(ConfigError, match="percentile_bands"):
        load_config(
            write_config(tmp_path, lambda d: d.update(percentile_bands={"default": [25, 10]}))
        )


def test_unknown_combine_rule_is_named(tmp_path):
    def change(d):
        d["subjects"]["math"]["combine"] = "loudest"

    with pytest.raises(ConfigError, match=r"subjects\.math\.combine.*'loudest'.*two_of_three"):
        load_config(write_config(tmp_path, change))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path)
