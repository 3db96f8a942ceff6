"""The classifier: normalization, features, model, policy, artifacts. Pure Python, no Kafka."""
