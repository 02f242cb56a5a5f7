"""Every option of every config group composes and validates; bad values fail by key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from biasgrpo.config import validate
from biasgrpo.errors import ConfigError
from tests.conftest import CONF_DIR, compose_config

GROUPS = ["algorithm", "model", "reward", "dataset", "logger", "benchmark", "experiment", "reward_training"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_validates(group: str, option: str, pairs_file: Path) -> None:
    value = f"[{option}]" if group == "benchmark" else option
    # DPO needs a pair dataset, and a pair dataset needs its file.
    pairs = ["dataset=paradetox_pairs", f"dataset.path={pairs_file}"]
    extra = pairs if option in ("dpo", "paradetox_pairs") else []
    if group == "reward" and option == "python":  # reward.target is required
        extra = ["reward.target=tests.rewards.test_python_reward:exclamations"]
    conf = validate(compose_config([f"{group}={value}", *extra]))
    if group == "algorithm":
        assert conf.algorithm.name == option


def test_dpo_without_pairs_says_how_to_fix() -> None:
    with pytest.raises(ConfigError, match="dataset=paradetox_pairs"):
        validate(compose_config(["algorithm=dpo"]))


def test_missing_data_file_names_the_env_var(tmp_path: Path) -> None:
    cfg = compose_config(["dataset=paradetox_pairs", f"data_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="BIASGRPO_DATA_DIR"):
        validate(cfg)


def test_hub_models_point_at_the_papers_models() -> None:
    assert validate(compose_config(["model=phi2"])).model.path == "microsoft/phi-2"
    assert validate(compose_config(["model=llama32_3b"])).model.path == "meta-llama/Llama-3.2-3B-Instruct"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("algorithm.num_generations=1", "algorithm.num_generations"),
        ("algorithm.clip_eps=1.5", "algorithm.clip_eps"),
        ("algorithm.kl_coef=-1", "algorithm.kl_coef"),
        ("algorithm.scale_rewards=groups", "algorithm.scale_rewards"),
        ("algorithm.loss_type=sum", "algorithm.loss_type"),
        ("train.lr=-1e-5", "train.lr"),
        ("train.lr_schedule=cosine", "train.lr_schedule"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.minibatch_size=5", "train.minibatch_size"),
        ("train.grad_accum_steps=0", "train.grad_accum_steps"),
        ("train.export=true export.checkpoint=outputs/x", "export.checkpoint"),
        ("train.export=true export.push_to_hub=true", "export.hub_repo"),
        ("train.max_grad_norm=0", "train.max_grad_norm"),
        ("train.num_epochs=0", "train.num_epochs"),
        ("sampler.temperature=0", "sampler.temperature"),
        ("sampler.top_p=1.5", "sampler.top_p"),
        ("sampler.max_new_tokens=0", "sampler.max_new_tokens"),
        ("sampler.dtype=float64", "sampler.dtype"),
        ("model.loader=gguf", "model.loader"),
        ("model.dtype=fp8", "model.dtype"),
        ("model.lora.r=0", "model.lora.r"),
        ("model.lora.dropout=1.0", "model.lora.dropout"),
        ("reward.kind=toxicity", "reward.kind"),
        ("reward.sentiment_weight=-1", "reward.sentiment_weight"),
        ("logger.mode=offlne", "logger.mode"),
        ("task=evaluat", "task"),
        ("algorithm=ppo algorithm.gae_lambda=1.5", "algorithm.gae_lambda"),
        ("algorithm=ppo algorithm.vf_coef=0", "algorithm.vf_coef"),
        ("algorithm=ppo algorithm.gamma=0", "algorithm.gamma"),
        ("dataset.on_bad_row=ignore", "dataset.on_bad_row"),
        ("device=tpu", "device"),
        ("benchmark=[bbq] benchmark.bbq.lm_backend=vllm", "benchmark.bbq.lm_backend"),
    ],
)
def test_bad_value_names_key_and_allowed(override: str, key: str) -> None:
    cfg = compose_config(override.split())
    with pytest.raises(ConfigError, match=f"^{key}=.*allowed"):
        validate(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("algorithm.num_generatons=4", "num_generatons"),  # a typo in a key
        ("train.lr=fast", "train.lr"),  # a wrong type
        ("algorithm=grpoo", "grpoo"),  # an unknown option
        ("model=phi3", "phi3"),
        ("benchmark=[heldot]", "heldot"),
    ],
)
def test_unknown_keys_and_types_fail_at_composition(override: str, message: str) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose_config([override])
    text = str(info.value) + str(info.value.__cause__)
    assert message in text


def test_each_list_of_names_has_one_builder_per_name() -> None:
    """The config's lists of names are the only ones; every builder table covers exactly them."""
    from biasgrpo import benchmarks, rewards
    from biasgrpo.algorithms import ALGORITHMS
    from biasgrpo.config import BENCHMARK_KINDS, REWARD_KINDS, register_configs

    assert tuple(rewards.BUILDERS) == REWARD_KINDS
    assert tuple(benchmarks.BUILDERS) == BENCHMARK_KINDS
    register_configs()
    from hydra.core.config_store import ConfigStore

    schemas = {name.removesuffix("_schema.yaml") for name in ConfigStore.instance().list("algorithm")}
    assert set(ALGORITHMS) <= schemas
