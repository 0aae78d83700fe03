"""Configuration validation: every problem found at once, each naming field, value and what is allowed."""

from __future__ import annotations

import copy

import pytest

from modules.settings import LOG_RETENTION_DAYS, SUPPORTED_PYTHON_RUNTIMES, load_project
from modules.validation import ConfigError


def problems_of(config: dict) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    return caught.value.problems


def test_shipped_configuration_is_valid(project_config):
    settings = load_project(copy.deepcopy(project_config))
    assert [e.name for e in settings.environments] == ["dev", "prod"]
    dev, prod = settings.environments
    assert (dev.environment_class, prod.environment_class) == ("non-production", "production")
    assert dev.force_destroy is True and prod.force_destroy is False
    assert (dev.network.egress, prod.network.egress) == ("single", "per-az")
    assert dev.function.runtime == SUPPORTED_PYTHON_RUNTIMES[0]
    assert dev.monitoring.log_retention_days == prod.monitoring.log_retention_days == 365


def test_every_problem_is_reported_at_once(project_config):
    config = copy.deepcopy(project_config)
    dev = config["environments"]["dev"]
    dev["account_id"] = "12345"
    dev["region"] = "mars-1"
    dev["function"] = {"memory_mb": 64, "timeout_seconds": 901, "runtime": "python3.9"}
    dev["monitoring"] = {"log_retention_days": 42}
    dev["colour"] = "blue"
    problems = problems_of(config)
    text = "\n".join(problems)
    assert len(problems) == 7, text
    assert "environments.dev.account_id: '12345' must be a 12-digit AWS account id" in text
    assert "environments.dev.region: 'mars-1' is not an AWS region name" in text
    assert "environments.dev.function.memory_mb: 64 is out of range; allowed: 128–10240 MB" in text
    assert "environments.dev.function.timeout_seconds: 901 is out of range; allowed: 1–900 seconds" in text
    assert ("environments.dev.function.runtime: 'python3.9' is deprecated by AWS Lambda; allowed: "
            + ", ".join(SUPPORTED_PYTHON_RUNTIMES)) in text
    assert "environments.dev.colour: unknown setting; allowed:" in text


def test_cloudwatch_retention_values_are_listed(project_config):
    config = copy.deepcopy(project_config)
    config["environments"]["prod"]["monitoring"] = {"log_retention_days": 42}
    (problem,) = problems_of(config)
    assert problem.startswith("environments.prod.monitoring.log_retention_days: 42 is not a CloudWatch Logs retention; allowed: 1, 3, 5")
    assert str(LOG_RETENTION_DAYS[-1]) in problem


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        ("function", {"architecture": "sparc"}, "function.architecture: 'sparc' is not allowed; allowed: arm64, x86_64"),
        ("function", {"runtime": "nodejs20.x"}, "function.runtime: 'nodejs20.x' is not allowed; allowed: python3.13"),
        ("function", {"memory_mb": "lots"}, "function.memory_mb: 'lots' must be an integer"),
        ("function", {"max_object_bytes": 10 * 1024**3},
         "function.max_object_bytes: 10737418240 bytes cannot be streamed within 80% of timeout_seconds=30 at 20 MiB/s; allowed: at most 503316480 bytes"),
        ("storage", {"manifest_prefix": "incoming/manifests/"},
         "storage.manifest_prefix: 'incoming/manifests/' overlaps trigger_prefix 'incoming/'"),
        ("storage", {"force_destroy": True},
         "storage.force_destroy: true is not allowed in a production environment without storage.allow_force_destroy_in_production=true"),
        ("monitoring", {"duration_threshold_share": 0}, "monitoring.duration_threshold_share: 0.0 is out of range; allowed: greater than 0 and at most 1"),
        ("monitoring", {"concurrency_threshold_share": 1.5}, "monitoring.concurrency_threshold_share: 1.5 is out of range"),
        ("monitoring", {"alarm_emails": ["oncall.example.com"]}, "monitoring.alarm_emails[0]: 'oncall.example.com' is not an email address"),
        ("key", {"deletion_window_days": 3}, "key.deletion_window_days: 3 is out of range; allowed: 7–30 days"),
        ("secret", {"recovery_window_days": 0}, "secret.recovery_window_days: 0 is out of range; allowed: 7–30 days"),
        ("network", {"vpc_cidr": "10.0.0.0/33"}, "network.vpc_cidr: '10.0.0.0/33' is not a valid IPv4 network"),
        ("network", {"vpc_cidr": "10.0.0.0/26"}, "network.vpc_cidr: '10.0.0.0/26' has prefix /26; allowed: /16–/24"),
        ("network", {"az_count": 1}, "network.az_count: 1 is out of range; allowed: 2–3"),
        ("network", {"egress": "nat"}, "network.egress: 'nat' is not allowed; allowed: per-az, single, none"),
    ],
)
def test_bad_values_name_field_value_and_allowed(project_config, section, values, expected):
    config = copy.deepcopy(project_config)
    config["environments"]["prod"][section] = values
    problems = problems_of(config)
    assert any(p.startswith(f"environments.prod.{expected}") for p in problems), problems


def test_force_destroy_in_production_needs_explicit_override(project_config):
    config = copy.deepcopy(project_config)
    config["environments"]["prod"]["storage"] = {"force_destroy": True, "allow_force_destroy_in_production": True}
    prod = load_project(config).environment("prod")
    assert prod.force_destroy is True


def test_webhook_needs_egress(project_config):
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["network"] = {"egress": "none"}
    config["environments"]["dev"]["function"] = {"webhook_url": "https://hooks.example.com/ingest"}
    (problem,) = problems_of(config)
    assert problem.startswith("environments.dev.function.webhook_url: a webhook needs internet egress, but network.egress is 'none'")


def test_missing_and_malformed_top_level(project_config):
    config = copy.deepcopy(project_config)
    del config["owner"]
    config["project"] = "Ingest_Pipeline"
    config["state"] = {"account_id": "1", "region": "eu-west-1"}
    problems = problems_of(config)
    text = "\n".join(problems)
    assert "project: 'Ingest_Pipeline' must be 3–20 characters" in text
    assert "owner: None is required" in text
    assert "state.account_id: '1' must be a 12-digit AWS account id" in text


def test_environment_defaults_and_overrides_merge(project_config):
    config = copy.deepcopy(project_config)
    config["defaults"]["function"] = {"memory_mb": 1024}
    config["environments"]["staging"] = {"account_id": "333333333333"}
    settings = load_project(config)
    staging = settings.environment("staging")
    # Unknown environments are production unless they say otherwise: the secure default.
    assert staging.environment_class == "production" and staging.force_destroy is False
    assert staging.function.memory_mb == 1024
    assert settings.environment("prod").function.memory_mb == 512  # its own value wins over defaults
    with pytest.raises(ConfigError, match="environments.qa: no such environment; configured: dev, prod, staging"):
        settings.environment("qa")
