"""Speed records: how fast nasjax runs its searches, queries and training, each beside a
baseline (the paper's figure or the reference library timed on the same work).

``launch/benchmark.py`` runs them and writes ``benchmark.json``; "benchmark" there means a
speed record, never a NAS benchmark (those are :mod:`nasjax.benchmarks`). One module per
subject:

- :mod:`~nasjax.speed.timing`: one way to time and one record layout, shared by every record.
- :mod:`~nasjax.speed.trees`: the JAX tree walk against XGBoost's ``inplace_predict``.
- :mod:`~nasjax.speed.nb301`: NAS-Bench-301 queries, environment steps and evaluation.
- :mod:`~nasjax.speed.apex`: Ape-X training and greedy-policy evaluation throughput.

The library itself never imports this package.
"""
