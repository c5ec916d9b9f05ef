"""``nasjax.sweep``: the points of a product, their labels, configs and groups."""

from __future__ import annotations

import json

import pytest

from configs import apex, search
from nasjax import config_rules, sweep
from nasjax.evaluation import apex_training as apex_report


def test_points_are_the_product_with_the_last_axis_fastest():
    axes = [sweep.Axis("gamma", (0.9, 0.99)), sweep.Axis("seed", (0, 1, 2))]
    assert sweep.points(axes) == [
        {"gamma": 0.9, "seed": 0}, {"gamma": 0.9, "seed": 1}, {"gamma": 0.9, "seed": 2},
        {"gamma": 0.99, "seed": 0}, {"gamma": 0.99, "seed": 1}, {"gamma": 0.99, "seed": 2}]


@pytest.mark.parametrize("axes, named", [
    ([sweep.Axis("seed", (0, 1)), sweep.Axis("seed", (2,))], "names 'seed' twice"),
    ([sweep.Axis("gamma", (0.9, 0.9))], "'gamma' repeats a value"),
    ([sweep.Axis("gamma", ())], "'gamma' has no value"),
])
def test_a_field_twice_or_a_repeated_value_is_refused(axes, named):
    with pytest.raises(ValueError, match=named):
        sweep.points(axes)


def test_labels_are_compare_apexs_run_labels():
    base = apex.get_config("smoke")
    points = sweep.points([sweep.Axis("gamma", (0.9, 0.95)),
                           sweep.Axis("env.alpha", (None, 2.0))])
    configs = [sweep.apply(base, point).to_dict() for point in points]
    assert [sweep.label(p) for p in points] == apex_report.run_labels(configs, ["a"] * 4) == [
        "env.alpha=None, gamma=0.9", "env.alpha=2.0, gamma=0.9",
        "env.alpha=None, gamma=0.95", "env.alpha=2.0, gamma=0.95"]
    assert sweep.directory_name(points[1]) == "env.alpha=2.0,gamma=0.9"


def test_apply_sets_the_fields_of_a_copy_as_an_override_does():
    base = apex.get_config("cpu")
    point = sweep.apply(base, {"gamma": 0.95, "env.alpha": None})
    assert (point.gamma, point.env.alpha) == (0.95, None)
    assert (base.gamma, base.env.alpha) == (0.9, 6.0)  # untouched
    expected = apex.get_config("cpu")
    expected.gamma, expected.env.alpha = 0.95, None
    assert point.to_dict() == expected.to_dict()


def test_groups_join_the_points_that_differ_only_in_shape_keeping_fields():
    base = apex.get_config("smoke")
    points = sweep.points([sweep.Axis("env.max_neighbours", (4, 6)),
                           sweep.Axis("seed", (0, 1, 2))])
    configs = [sweep.apply(base, p).to_dict() for p in points]
    assert sweep.groups(configs, ("seed",)) == [[0, 1, 2], [3, 4, 5]]
    assert sweep.groups(configs, ()) == [[i] for i in range(6)]


def test_a_together_field_that_is_none_in_some_points_splits_them_off():
    # fig19: alpha None (no reward shaping) is another program than alpha 2, 6, 10.
    from nasjax.agents.apex import train

    base = apex.get_config("smoke")
    points = sweep.points([sweep.Axis("env.alpha", (None, 2.0)), sweep.Axis("seed", (0, 1))])
    configs = [sweep.apply(base, p).to_dict() for p in points]
    assert sweep.groups(configs, ("seed", "env.alpha")) == [[0, 1], [2, 3]]
    fig19 = [sweep.apply(base, p).to_dict() for p in sweep.points(sweep.axes_of(
        apex.SWEEPS["fig19"]))]
    assert sweep.groups(fig19, ("seed", *train.HYPERPARAM_FIELDS)) == [[0], [1, 2, 3]]


@pytest.mark.parametrize("module, preset", [(apex, "paper"), (search, "default")])
def test_named_sweeps_hold_allowed_values(module, preset):
    base = module.get_config(preset)
    for axes in module.SWEEPS.values():
        for point in sweep.points(sweep.axes_of(axes)):
            config_rules.check_config(sweep.apply(base, point), module.RULES)


def test_named_sweeps_are_the_papers():
    assert apex.SWEEPS["fig17"] == {"gamma": (0.9, 0.95, 0.99)}
    assert apex.SWEEPS["fig18"] == {"env.max_neighbours": (25, 50, 100)}
    assert apex.SWEEPS["fig19"] == {"env.alpha": (None, 2.0, 6.0, 10.0)}
    assert apex.SWEEPS["seeds"] == {"seed": (0, 1, 2, 3, 4)}
    assert search.SWEEPS["table6"] == {"remaade.num_orders": (1, 2, 4, 6, 8, 16, 0)}


def test_a_sweep_directory_stands_for_its_points_as_apex_checkpoints(tmp_path):
    from nasjax.agents.apex import policy

    spec = {"points": [{"label": f"seed={s}", "workdir": f"seed={s}", "values": {"seed": s}}
                       for s in (0, 1, 2)]}
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / sweep.SPEC).write_text(json.dumps(spec))
    assert sweep.point_dirs(tmp_path / "seeds") == [tmp_path / "seeds" / f"seed={s}"
                                                    for s in (0, 1, 2)]
    assert sweep.point_dirs(tmp_path) is None
    assert policy.run_dirs(f"{tmp_path / 'seeds'}, {tmp_path / 'other'}") == [
        *(str(tmp_path / "seeds" / f"seed={s}") for s in (0, 1, 2)), str(tmp_path / "other")]
    assert policy.seeds(str(tmp_path / "seeds")) == 3
