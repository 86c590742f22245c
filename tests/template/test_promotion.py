"""Promotion: a worse model never becomes champion, bad data never reaches the registry."""

from __future__ import annotations

import pytest
from conftest import ELASTIC_NET, EXAMPLE_CSV, MEAN_ONLY, run_lifecycle
from mlflow.tracking import MlflowClient

from project_template.Data.read_data import DataSource
from project_template.mlops_platform import promotion as promote_model
from project_template.mlops_platform.promotion import current_champion, register_and_promote
from project_template.mlops_platform.schema import DataValidationError

LOCAL = DataSource("local", str(EXAMPLE_CSV))


def _tags(model_name: str, version: str) -> dict[str, str]:
    return MlflowClient().get_model_version(model_name, version).tags


def test_first_model_becomes_champion_and_a_better_one_replaces_it(experiment):
    model = f"{experiment}-model"
    first = run_lifecycle(LOCAL, experiment, model, [MEAN_ONLY])["decision"]
    assert first["promoted"] and first["version"] == "1"
    assert str(current_champion(model, "champion").version) == "1"
    assert _tags(model, "1")["compared_with_version"] == "none"

    second = run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])["decision"]
    assert second["promoted"] and second["score"] > second["previous_champion_score"]
    assert str(current_champion(model, "champion").version) == "2"
    tags = _tags(model, "2")
    assert tags["promotion_decision"] == "promoted"
    assert tags["compared_with_version"] == "1"
    assert float(tags["candidate_r2_test"]) == pytest.approx(second["score"])
    assert float(tags["champion_r2_test"]) == pytest.approx(second["previous_champion_score"])


def test_a_worse_or_equal_model_never_becomes_champion(experiment):
    model = f"{experiment}-model"
    run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])
    worse = run_lifecycle(LOCAL, experiment, model, [MEAN_ONLY])["decision"]
    assert not worse["promoted"] and worse["alias"] == "challenger"
    assert worse["score"] < worse["previous_champion_score"]
    assert str(current_champion(model, "champion").version) == "1"
    assert str(current_champion(model, "challenger").version) == "2"
    assert _tags(model, "2")["promotion_decision"].startswith("not promoted")

    same = run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])["decision"]
    assert same["score"] == pytest.approx(same["previous_champion_score"])
    assert not same["promoted"]  # a tie keeps the champion
    assert str(current_champion(model, "champion").version) == "1"


def _bad_files(example: bytes) -> dict[str, tuple[bytes, str]]:
    lines = example.decode().splitlines()
    spoiled = lines[4].split(";")
    spoiled[1] = "male"
    holes = lines[7].split(";")
    holes[5] = ""
    return {
        "wrong delimiter": ("\n".join(line.replace(";", ",") for line in lines).encode(),
                            "wrong delimiter"),
        "missing target": ("\n".join(line.rsplit(";", 1)[0] for line in lines).encode(),
                           "missing required column.*disease_progression"),
        "non-numeric": ("\n".join([*lines[:4], ";".join(spoiled), *lines[5:]]).encode(),
                        r"'sex' must be numeric: 1 row\(s\) fail, data row\(s\) 4 \(values 'male'\)"),
        "empty": (b"", "empty"),
        "NaN": ("\n".join([*lines[:7], ";".join(holes), *lines[8:]]).encode(),
                r"column 's2' must be not missing: 1 row\(s\) fail, data row\(s\) 7"),
    }


@pytest.mark.parametrize("kind", ["wrong delimiter", "missing target", "non-numeric", "empty",
                                  "NaN"])
def test_bad_data_fails_naming_the_problem_and_leaves_the_champion(experiment, example_bytes,
                                                                   tmp_path, kind):
    model = f"{experiment}-model"
    client = MlflowClient()
    if kind == "wrong delimiter":  # train a champion once; the other cases start from none
        run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])
    before = current_champion(model, "champion")
    runs_before = len(client.search_runs([client.get_experiment_by_name(experiment)
                                          .experiment_id]))
    content, message = _bad_files(example_bytes)[kind]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)

    with pytest.raises(DataValidationError, match=message):
        run_lifecycle(DataSource("local", str(bad)), experiment, model, [ELASTIC_NET])

    after = current_champion(model, "champion")
    assert (after and after.version) == (before and before.version)
    # Validation runs before anything is logged: no pipeline run, no model version.
    assert len(client.search_runs([client.get_experiment_by_name(experiment)
                                   .experiment_id])) == runs_before


def test_promotion_compares_again_when_the_champion_moves_meanwhile(experiment, monkeypatch):
    """Another run promoting during our comparison must be compared against, not overwritten."""
    model = f"{experiment}-model"
    lifecycle = run_lifecycle(LOCAL, experiment, model, [MEAN_ONLY])  # v1 champion
    run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])  # v2 champion
    elastic = run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET], promote=False)  # v3, below
    client = MlflowClient()
    client.set_registered_model_alias(model, "champion", "1")  # back to the weak one

    real_score = promote_model.score_model
    champion_scores = []

    def score_and_meanwhile_promote(model_uri, test_uri, metric):
        if model_uri.endswith("/1") and not champion_scores:
            # While we score v1, a concurrent run makes v2 (better) the champion.
            client.set_registered_model_alias(model, "champion", "2")
        score = real_score(model_uri, test_uri, metric)
        if not model_uri.endswith("/3"):
            champion_scores.append(model_uri)
        return score

    monkeypatch.setattr(promote_model, "score_model", score_and_meanwhile_promote)
    decision = register_and_promote(elastic["best"], model, lifecycle["splits"]["test"],
                                    "r2_validation")
    assert champion_scores == [f"models:/{model}/1", f"models:/{model}/2"]
    assert decision["previous_champion_version"] == "2"
    assert not decision["promoted"]  # v3 equals v2, so v2 stays champion
    assert str(current_champion(model, "champion").version) == "2"
