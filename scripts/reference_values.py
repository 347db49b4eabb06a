#!/usr/bin/env python3
"""Reference values for watchkeeper's statistics, from SciPy and NumPy (an independent
implementation). Writes tests/fixtures/detect_reference.json. Run: python3 scripts/reference_values.py"""
import json
import numpy as np
from scipy import stats

rng = np.random.default_rng(7)
cases = {
    "small": ([1.2, 2.3, 2.9, 3.1, 4.8, 5.0], [2.2, 3.9, 4.1, 5.6, 6.0, 7.2, 7.9]),
    "ties": ([1, 2, 2, 3, 3, 3, 4, 5], [3, 3, 4, 4, 5, 5, 6, 7, 7]),
    "latency_shift": (list(rng.normal(10.0, 1.0, 60)), list(rng.normal(11.0, 1.5, 45))),
    "equal": (list(rng.normal(5.0, 2.0, 200)), list(rng.normal(5.0, 2.0, 150))),
}
out = {"two_sample": {}, "robust": {}, "trend": {}, "cusum": {}}
for name, (a, b) in cases.items():
    a, b = [float(x) for x in a], [float(x) for x in b]
    t = stats.ttest_ind(a, b, equal_var=False)
    u = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
    out["two_sample"][name] = {
        "a": a, "b": b,
        "welch_t": float(t.statistic), "welch_p": float(t.pvalue),
        "welch_df": float(t.df),
        "u": float(u.statistic), "u_p": float(u.pvalue),
        "cohens_d": float((np.mean(b) - np.mean(a)) / pooled),
    }
series = [float(x) for x in rng.normal(100.0, 5.0, 101)]
out["robust"] = {
    "values": series,
    "median": float(np.median(series)),
    "mad_normal": float(stats.median_abs_deviation(series, scale="normal")),
    "probe": 130.0,
}
xs = [float(i) for i in range(30)]
ys = [float(2.5 + 0.4 * x + e) for x, e in zip(xs, rng.normal(0, 0.8, 30))]
lr = stats.linregress(xs, ys)
out["trend"] = {"x": xs, "y": ys, "slope": float(lr.slope), "intercept": float(lr.intercept), "r_squared": float(lr.rvalue ** 2)}

# CUSUM: a direct implementation of the tabular two-sided CUSUM (Montgomery), independent of ours.
cs = [float(x) for x in np.concatenate([rng.normal(0, 1, 50), rng.normal(1.5, 1, 30)])]
k, h, hi, lo, alarms = 0.5, 5.0, 0.0, 0.0, []
for i, x in enumerate(cs):
    hi, lo = max(0.0, hi + x - k), max(0.0, lo - x - k)
    if hi > h or lo > h:
        alarms.append([i, "up" if hi > h else "down"])
        hi = lo = 0.0
out["cusum"] = {"values": cs, "target": 0.0, "sd": 1.0, "k": k, "h": h, "alarms": alarms}

with open("tests/fixtures/detect_reference.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote tests/fixtures/detect_reference.json")
