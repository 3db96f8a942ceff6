# chatguard worker image: the project, and the default model trained from the seed corpus.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHATGUARD_REGISTRY=/var/lib/chatguard/registry \
    CHATGUARD_LABEL_STORE=/var/lib/chatguard/labels/moderator-labels.jsonl \
    CHATGUARD_DATA_DIR=/var/lib/chatguard/worker

WORKDIR /app
COPY pyproject.toml README.md ./
COPY chatguard ./chatguard
COPY models ./models
COPY streams ./streams
COPY training ./training
RUN pip install . && chatguard train --promote --quiet

EXPOSE 6066
CMD ["chatguard", "worker", "-l", "info"]
