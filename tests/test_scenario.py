"""The simulation's scenario files (issue 14): the shipped Minhang 2012 scenario loads and its own parameters reach
the seed's figures within its tolerance, at full and at a tenth of the volume; a copy edited into something that
cannot be run or cannot reach its targets is refused, naming the file and the field."""

from __future__ import annotations

import pytest

from liandong.errors import Invalid
from liandong.sim import scenario as sc

SEED = {"accepted": 249_000, "filed": 226_000, "closed": 215_000, "hazards_collected": 9617,
        "hazards_filed": 9567, "hazards_closed": 8039, "hazards_rewarded": 2541}


def test_minhang_2012_reaches_the_seed_by_its_own_parameters():
    s = sc.load("minhang-2012")
    assert "minhang-2012" in sc.names() and s.year == 2012 and s.targets.cases.accepted == SEED["accepted"]
    for scale in (1.0, 0.1):
        reached = sc.expected(s, scale)
        for key, target in SEED.items():
            assert reached[key] == pytest.approx(target * scale, rel=0.01), (key, scale)
    assert reached["closed"] / reached["filed"] == pytest.approx(0.949, abs=0.003)  # the seed's closure rate


@pytest.mark.parametrize(("change", "field"), [
    (("  hotline: 0.30", "  hotline: 0.40"), "volume.channels"),           # shares no longer sum to one
    (("  hotline: 0.30", "  pigeon: 0.30"), "volume.channels"),            # no such channel
    (("  rejected: 0.03", "  rejected: 0.13"), "file"),                      # cannot reach 249,000 accepted
    (("  water: ", "  navy: "), "lines"),                                     # no such line
    (("\nyear: 2012", "\nyear: 2012\nsurprise: 1"), "surprise"),           # unknown field
    (("months: [0.072, ", "months: ["), "volume.months"),                    # eleven months
])
def test_a_broken_copy_is_refused_naming_the_field(tmp_path, change, field):
    text = (sc.SCENARIOS / "minhang-2012.yaml").read_text(encoding="utf-8")
    old, new = change
    assert old in text
    path = tmp_path / "copy.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        sc.load(str(path))
    assert str(path) in refused.value.message and field in refused.value.message
    assert refused.value.code == "bad_scenario"


def test_an_unknown_scenario_names_the_shipped_ones():
    with pytest.raises(Invalid, match="minhang-2012") as refused:
        sc.load("atlantis-2030")
    assert refused.value.code == "unknown_scenario"
