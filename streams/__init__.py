"""The Faust app: everything that touches Kafka."""
