"""wbslib.stats.mrmc: Van Dyke oracles from R MRMCaov, brute-force jackknife, binary FOMs, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_oracles import oracle_csv

from wbslib.core.errors import StatisticsError
from wbslib.stats.mrmc import mrmc_or
from wbslib.stats.roc import delong_covariance, delong_paired


@pytest.fixture(scope="module")
def vandyke():
    df = oracle_csv("VanDyke.csv")
    assert (len(df), df["reader"].nunique(), df["case"].nunique()) == (1140, 5, 114)
    return df


def _design(n_readers=3, n_cases=24, binary=False, seed=5, gains=(0.8, 1.3)):
    """A small fully crossed reader study: treatment 'B' separates cases by gains[1] vs 'A' gains[0]."""
    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(n_cases // 3), np.zeros(n_cases - n_cases // 3)].astype(int)
    rows = []
    for r in range(n_readers):
        skill = rng.normal(0, 0.3)
        for t, gain in zip(("A", "B"), gains):
            latent = truth * (gain + skill) + rng.normal(size=n_cases)
            rating = (latent > 0.6).astype(int) if binary else np.clip(np.round(latent * 1.5 + 2.5), 1, 5)
            rows += [
                {"reader": f"r{r}", "treatment": t, "case": f"c{c:03d}", "truth": truth[c], "rating": rating[c]}
                for c in range(n_cases)
            ]
    return pd.DataFrame(rows)


# --- oracles ---------------------------------------------------------------------------------------
def test_vandyke_oracle_delong_random_readers(vandyke):
    res = mrmc_or(vandyke, fom="auc", cov="delong", readers="random")
    assert res["treatments"] == (1, 2)
    assert round(res["fom_by_treatment"][1], 7) == 0.8970370
    assert round(res["fom_by_treatment"][2], 7) == 0.9408374
    assert round(res["diff"], 8) == -0.04380032
    assert round(res["se"], 7) == 0.0206825
    assert round(res["df2"], 5) == 15.06611
    assert round(res["statistic"], 6) == 4.484854 and res["statistic_name"] == "F"
    assert round(res["p"], 8) == 0.05123303
    assert round(res["cov1"], 10) == 0.0003420090
    assert round(res["cov2"], 10) == 0.0003395265
    assert round(res["cov3"], 10) == 0.0002358497
    assert round(res["ms_tr"], 10) == 0.0005510306
    assert (res["n_readers"], res["n_cases"], res["n_diseased"]) == (5, 114, 45)
    assert res["ci_low"] < res["diff"] < res["ci_high"]


def test_vandyke_oracle_jackknife_fixed_readers(vandyke):
    res = mrmc_or(vandyke, fom="auc", cov="jackknife", readers="fixed")
    assert round(res["statistic"], 6) == 5.475953 and res["statistic_name"] == "chi2"
    assert round(res["p"], 8) == 0.01927984
    assert (res["df1"], res["df2"]) == (1, np.inf)


def test_vandyke_reader_table_and_treatment_order(vandyke):
    res = mrmc_or(vandyke, treatments=(2, 1))
    assert res["treatments"] == (2, 1) and round(res["diff"], 8) == 0.04380032
    assert round(res["p"], 8) == 0.05123303
    table = res["fom_by_reader"]
    assert table.shape == (5, 2) and table.index.name == "reader"
    assert table.mean().to_dict() == pytest.approx(res["fom_by_treatment"])
    shuffled = vandyke.sample(frac=1.0, random_state=3).assign(case=lambda d: "case-" + d["case"].astype(str))
    again = mrmc_or(shuffled, treatments=(2, 1))
    assert (again["statistic"], again["p"], again["cov2"]) == pytest.approx((res["statistic"], res["p"], res["cov2"]))


# --- unit checks -----------------------------------------------------------------------------------
def test_jackknife_covariance_matches_leave_one_case_out():
    df = _design()
    res = mrmc_or(df, cov="jackknife", readers="fixed")
    cases = sorted(df["case"].unique())
    readings = df.pivot_table(index="case", columns=["treatment", "reader"], values="rating")
    truth = df.groupby("case")["truth"].first().loc[readings.index].to_numpy()
    loo = np.array(
        [
            delong_covariance(np.delete(truth, i), *np.delete(readings.to_numpy(), i, axis=0).T)[0]
            for i in range(len(cases))
        ]
    )
    cov = (len(cases) - 1) * np.cov(loo.T, bias=True)
    n_r = df["reader"].nunique()
    assert res["var"] == pytest.approx(np.mean(np.diag(cov)), rel=1e-10)
    assert res["cov1"] == pytest.approx(np.mean([cov[r, n_r + r] for r in range(n_r)]), rel=1e-10)


def test_single_reader_fixed_delong_equals_delong_paired_test():
    truth = oracle_csv("aSAH.csv")["outcome"].eq("Poor").astype(int).to_numpy()
    markers = oracle_csv("aSAH.csv")[["wfns", "s100b"]]
    df = pd.concat(
        [
            pd.DataFrame(
                {"reader": 1, "treatment": name, "case": np.arange(len(truth)), "truth": truth, "rating": markers[name]}
            )
            for name in markers
        ]
    )
    res = mrmc_or(df, readers="fixed", treatments=("wfns", "s100b"))
    paired = delong_paired(truth, markers["wfns"], markers["s100b"])
    assert res["statistic"] == pytest.approx(paired["z"] ** 2, rel=1e-12)
    assert res["p"] == pytest.approx(0.0271757822291882, abs=1e-14)
    assert res["se"] == pytest.approx(paired["se"], rel=1e-12)


@pytest.mark.parametrize("fom, stratum", [("sensitivity", 1), ("specificity", 0)])
def test_binary_fom_delong_is_covariance_of_proportions(fom, stratum):
    df = _design(binary=True)
    res = mrmc_or(df, fom=fom, cov="delong", readers="random")
    sub = df[df["truth"] == stratum]
    correct = sub.pivot_table(index="case", columns=["treatment", "reader"], values="rating")
    correct = correct if stratum == 1 else 1 - correct
    expected = correct.mean().groupby(level="treatment").mean()
    assert res["fom_by_treatment"] == pytest.approx(expected.to_dict(), abs=1e-12)
    cov = correct.cov().to_numpy() / len(correct)  # covariance of proportions, ddof 1
    n_r = df["reader"].nunique()
    p = correct.mean().to_numpy()
    assert res["var"] == pytest.approx(np.mean(p * (1 - p) / (len(correct) - 1)), rel=1e-10)
    assert res["cov1"] == pytest.approx(np.mean([cov[r, n_r + r] for r in range(n_r)]), rel=1e-10)
    off = [cov[r, s] for r in range(n_r) for s in range(n_r) if r != s]
    assert res["cov2"] == pytest.approx(
        np.mean(off + [cov[n_r + r, n_r + s] for r in range(n_r) for s in range(n_r) if r != s]), rel=1e-10
    )
    jack = mrmc_or(df, fom=fom, cov="jackknife", readers="random")
    assert jack["diff"] == res["diff"] and 0 <= jack["p"] <= 1


def test_better_treatment_detected_and_p_symmetric():
    df = _design(n_readers=4, n_cases=90, seed=11, gains=(0.5, 2.5))
    ab = mrmc_or(df, treatments=("A", "B"))
    ba = mrmc_or(df, treatments=("B", "A"))
    assert ab["diff"] == pytest.approx(-ba["diff"]) and ab["p"] == pytest.approx(ba["p"])
    assert ab["fom_by_treatment"]["B"] > ab["fom_by_treatment"]["A"]
    assert ab["ci_low"] < ab["diff"] < ab["ci_high"] < 0 and ab["p"] < 0.01


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mutate, kwargs, words",
    [
        (lambda d: d.drop(columns="truth"), {}, "lack columns"),
        (lambda d: d.drop(index=5), {}, "missing from the fully crossed"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), {}, "duplicate"),
        (lambda d: d.assign(truth=np.where(d.index == 0, 1 - d["truth"], d["truth"])), {}, "different truth"),
        (lambda d: pd.concat([d, d[d["treatment"] == "A"].assign(treatment="C")]), {}, "exactly two"),
        (lambda d: d, {"treatments": ("A", "Z")}, "exactly two"),
        (lambda d: d[d["reader"] == "r0"], {}, "at least 2 readers"),
        (lambda d: d, {"fom": "sensitivity"}, "binary ratings"),
        (lambda d: d, {"fom": "ppv"}, "fom must be"),
        (lambda d: d, {"cov": "bootstrap"}, "cov must be"),
        (lambda d: d, {"readers": "mixed"}, "readers must be"),
        (lambda d: d.assign(rating=d["rating"].where(d.index != 3)), {}, "missing values"),
        (lambda d: d[d["truth"] == 1], {}, "at least 2 diseased and 2 non-diseased"),
        (lambda d: d.assign(rating=1.0), {}, "no reader or case variability"),
    ],
)
def test_bad_input(mutate, kwargs, words):
    with pytest.raises(StatisticsError, match=words):
        mrmc_or(mutate(_design()), **kwargs)
