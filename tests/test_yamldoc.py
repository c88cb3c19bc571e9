"""``load_yaml`` (libyaml's C parser where available) reads every committed config as ``yaml.safe_load`` does."""

from pathlib import Path

import pytest
import yaml

from nasprox.core import load_yaml

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


def test_every_committed_config_reads_as_safe_load_reads_it():
    assert len(CONFIGS) >= 20
    for path in CONFIGS:
        text = path.read_text()
        assert load_yaml(text) == yaml.safe_load(text), path


def test_scalars_and_unsafe_tags_as_safe_load():
    for text in ("64", "0.5", "true", "1e-3", "abc", "[1, 2]", "{a: 1}", "", "2026-12-07"):
        assert load_yaml(text) == yaml.safe_load(text), text
    with pytest.raises(yaml.YAMLError):  # a safe loader builds no Python objects
        load_yaml("!!python/object/apply:os.system ['true']")
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2\nb: 3")
