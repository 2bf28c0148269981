"""Settings: passed as objects, or read from `ASSISTANT_*` variables by `from_env` only."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Settings, SettingsError
from assistant._settings import AnswerSettings, RetrievalSettings


def test_every_weight_and_threshold_is_a_described_field() -> None:
    for section in (RetrievalSettings, AnswerSettings):
        undescribed = [name for name, f in section.model_fields.items() if not f.description]
        assert undescribed == [], section.__name__


def test_nested_variables_reach_every_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__ALPHA", "0.7")
    monkeypatch.setenv("ASSISTANT_ANSWER__ABSTAIN_BELOW", "0.5")
    monkeypatch.setenv("ASSISTANT_CHUNKING__MAX_TOKENS", "128")
    monkeypatch.setenv("ASSISTANT_MODEL", "my-model")
    settings = Settings.from_env()
    assert settings.retrieval.alpha == 0.7
    assert settings.answer.abstain_below == 0.5
    assert settings.chunking.max_tokens == 128
    assert settings.model == "my-model"
    # untouched fields keep their defaults
    assert settings.retrieval.sentence_weight == RetrievalSettings().sentence_weight


def test_short_names_and_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_SOURCES", "/data/briefs")
    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "3")
    monkeypatch.setenv("ASSISTANT_CHUNK_TOKENS", "64")
    settings = Settings.from_env(index_dir="elsewhere")
    assert settings.sources_dir == Path("/data/briefs")
    assert settings.index_dir == Path("elsewhere")
    assert settings.ingest.max_file_mb == 3.0
    assert settings.chunking.max_tokens == 64
    assert Settings.from_env(sources_dir="given").sources_dir == Path("given")


def test_constructed_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A benchmark or caller passing `settings=` is never overridden by the host."""
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__ALPHA", "0.9")
    monkeypatch.setenv("ASSISTANT_MODEL", "other")
    assert Settings().retrieval.alpha == RetrievalSettings().alpha
    assert Settings().model == Settings.model_fields["model"].default


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASSISTANT_RETRIEVAL__ALPHA", "abc", "ASSISTANT_RETRIEVAL__ALPHA='abc' is not valid"),
        ("ASSISTANT_RETRIEVAL__ALPHA", "1.5", "ASSISTANT_RETRIEVAL__ALPHA='1.5' is not valid"),
        ("ASSISTANT_MAX_FILE_MB", "-1", "ASSISTANT_MAX_FILE_MB='-1' is not valid"),
        ("ASSISTANT_RETRIEVAL__NO_SUCH", "1", "ASSISTANT_RETRIEVAL__NO_SUCH='1' is not valid"),
        ("ASSISTANT_RETRIEVAL", "{broken", "an ASSISTANT_* variable could not be read"),
    ],
)
def test_a_bad_variable_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
