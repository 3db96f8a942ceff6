# chatguard worker image: the project, and the default model (`chatguard train --recipe default`:
# seed + clean corpus, plus public sets if a cache is mounted; without them it says so).
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
RUN pip install . && chatguard train --recipe default --promote --quiet

EXPOSE 6066
CMD ["chatguard", "worker", "-l", "info"]
