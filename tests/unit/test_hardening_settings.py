"""The hardening knobs: all off by default, bad values refused naming the key,
and the values the config is rendered from derived right."""

import pytest

from private_ollama.desired_state.settings import Settings, SettingsError


def test_every_hardening_knob_is_off_by_default():
    settings = Settings.from_data({})
    assert (settings.proxy_api_keys, settings.client_limits, settings.proxy_ollama_max_concurrent,
            settings.ollama_allowed_models, settings.proxy_access_log) == (False, False, 0, [], False)


@pytest.mark.parametrize(
    ("override", "key", "reason"),
    [
        ({"proxy_rate_limit_requests": -1}, "proxy_rate_limit_requests", "greater than or equal to 0"),
        ({"proxy_rate_limit_window": "500ms"}, "proxy_rate_limit_window", "from 1s to 1d"),
        ({"proxy_rate_limit_window": "2d"}, "proxy_rate_limit_window", "from 1s to 1d"),
        ({"proxy_rate_limit_window": "60"}, "proxy_rate_limit_window", "should match pattern"),
        ({"proxy_client_max_concurrent": -2}, "proxy_client_max_concurrent", "greater than or equal to 0"),
        ({"proxy_queue_timeout": "soon"}, "proxy_queue_timeout", "should match pattern"),
        ({"ollama_allowed_models": ["llama 3"]}, "ollama_allowed_models.0", "should match pattern"),
        ({"ollama_allowed_models": ["a'b"]}, "ollama_allowed_models.0", "should match pattern"),
        ({"ollama_allowed_models": ["x:1", "X:1"]}, "ollama_allowed_models", "twice"),
        ({"proxy_buffer_bytes": 4096}, "proxy_buffer_bytes", "greater than or equal to 16384"),
        ({"proxy_access_log_max_bytes": 1000}, "proxy_access_log_max_bytes", "greater than or equal to"),
        ({"proxy_access_log_keep": 0}, "proxy_access_log_keep", "greater than or equal to 1"),
        ({"proxy_api_keys_file": ""}, "proxy_api_keys_file", "at least 1 character"),
    ],
)
def test_bad_hardening_knob_names_the_key(override, key, reason):
    with pytest.raises(SettingsError) as error:
        Settings.from_data(override)
    assert f"{key}: " in str(error.value) and reason in str(error.value)


@pytest.mark.parametrize(
    ("models", "spellings"),
    [
        (["llama3.2"], ["llama3.2", "llama3.2:latest"]),
        (["llama3.2:latest"], ["llama3.2", "llama3.2:latest"]),
        (["qwen2.5-coder:32b"], ["qwen2.5-coder:32b"]),
        (["hf.co/org/model:q4"], ["hf.co/org/model:q4"]),
    ],
)
def test_a_model_without_a_tag_is_its_latest(models, spellings):
    assert Settings.from_data({"ollama_allowed_models": models}).allowed_model_spellings == spellings


@pytest.mark.parametrize(("window", "seconds"), [("1s", 1), ("1500ms", 2), ("90s", 90), ("1m", 60), ("1h", 3600)])
def test_retry_after_is_one_window_in_whole_seconds(window, seconds):
    assert Settings.from_data({"proxy_rate_limit_window": window}).rate_limit_retry_after_s == seconds


@pytest.mark.parametrize(("knobs", "limited"), [({}, False), ({"proxy_rate_limit_requests": 1}, True),
                                                ({"proxy_client_max_concurrent": 1}, True)])
def test_clients_are_counted_only_when_a_client_limit_is_on(knobs, limited):
    assert Settings.from_data(knobs).client_limits is limited
