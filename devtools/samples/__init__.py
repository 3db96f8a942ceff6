"""Generators of the bundled data (``python -m devtools.samples.build_traffic``) and the sample
traffic they write (``traffic.jsonl``, read by ``chatguard produce`` and the benchmarks)."""
