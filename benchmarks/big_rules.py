"""A rules file of many terms and domains that sample traffic never contains, so a benchmark
measures what matching costs, not what blocking saves (shared by rules_cost.py and stream.py)."""


def rules_text(terms: int, domains: int, version: str = "bench") -> str:
    words = "\n".join(f"      - scam{i:06d}word" for i in range(terms))
    hosts = "\n".join(f"      - scam{i:05d}.top" for i in range(domains))
    return (
        f"version: {version}\nrules:\n  - id: terms\n    category: spam\n    effect: block\n"
        f"    match:\n      terms:\n{words}\n  - id: domains\n    category: fraud\n"
        f"    effect: block\n    match:\n      domains:\n{hosts}\n"
    )
