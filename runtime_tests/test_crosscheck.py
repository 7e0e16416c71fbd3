"""The cross-check flags both kinds of contradiction with the models, and only those."""

import pytest

from runtime_tests import crosscheck

pytestmark = pytest.mark.quick

VERDICTS = {
    "AGXEncoderRace_none": ("AGXEncoderRace", "invariant: NoUseAfterFree"),
    "AGXEncoderRace_global_lock": ("AGXEncoderRace", "pass"),
    "BatchQueue": ("BatchQueue", "pass"),
    "BatchQueue_drop_on_shutdown": ("BatchQueue", "property: EveryRequestAnswered"),
}


def verdict(model, k, n, device="mps"):
    return crosscheck.check("cfg", model, k, n, device, VERDICTS).verdict


def test_a_failure_where_the_model_says_safe_is_a_contradiction_on_any_device():
    assert verdict("AGXEncoderRace_global_lock", 1, 30) == "contradiction"
    assert verdict("BatchQueue", 1, 3, "cpu") == "contradiction"
    assert verdict("BatchQueue", 0, 3, "cpu") == "agrees"


def test_no_crash_in_a_large_enough_run_where_the_model_says_unsafe_is_a_contradiction():
    assert crosscheck.DETECT_RATE == 0.10
    assert verdict("AGXEncoderRace_none", 0, 29) == "contradiction"
    assert verdict("AGXEncoderRace_none", 0, 28) == "inconclusive"
    assert verdict("AGXEncoderRace_none", 2, 29) == "agrees"


def test_driver_models_predict_nothing_off_apple_gpus():
    assert verdict("AGXEncoderRace_none", 0, 300, "cuda") == "not applicable"
    assert verdict("AGXEncoderRace_none", 0, 300, "cpu") == "not applicable"
    assert verdict("BatchQueue_drop_on_shutdown", 0, 30, "cpu") == "contradiction"  # not driver-specific


def test_unknown_models():
    assert verdict(None, 0, 3) == "unknown"
    assert verdict("NoSuchModel", 5, 5) == "unknown"


def test_manifest_loading(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text("models:\n  - {name: A_x, module: A, expect: pass}\n  - {name: B_y, module: B, expect: deadlock}\n")
    assert crosscheck.load_verdicts(path) == {"A_x": ("A", "pass"), "B_y": ("B", "deadlock")}
    assert crosscheck.load_verdicts(tmp_path / "missing.yaml") == {}
    (tmp_path / "bad.yaml").write_text("models: [")
    assert crosscheck.load_verdicts(tmp_path / "bad.yaml") == {}


def test_the_model_names_the_matrix_uses_exist_in_the_spec_manifest_when_it_is_there():
    from runtime_tests import configs

    verdicts = crosscheck.load_verdicts()
    if not verdicts:
        pytest.skip("specs/manifest.yaml not written yet")
    missing = {c.model for c in configs.load().configurations} - set(verdicts)
    assert not missing, f"configs.yaml names models the manifest lacks: {missing}"
