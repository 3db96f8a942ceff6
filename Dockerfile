# chatguard worker image: the project, and the default model (`chatguard train --recipe default`:
# seed + clean corpus, plus public sets if a cache is mounted; without them it says so).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CHATGUARD_REGISTRY=/var/lib/chatguard/registry \
    CHATGUARD_LABEL_STORE=/var/lib/chatguard/labels/moderator-labels.jsonl \
    CHATGUARD_DATA_DIR=/var/lib/chatguard/worker \
    CHATGUARD_MODEL_SIGNING_KEY=/var/lib/chatguard/signing/model-signing.key \
    CHATGUARD_MODEL_PUBLIC_KEY=/var/lib/chatguard/public/model-signing.pub

WORKDIR /app
COPY pyproject.toml README.md ./
COPY chatguard ./chatguard
COPY models ./models
COPY streams ./streams
COPY training ./training
# development tools (`chatguard produce|tail` against the compose broker); workers never import them
COPY devtools ./devtools
# The default model is signed at build time by a throwaway key deleted in the same layer, so no
# private key is in the image; docker-compose's `keys` service makes the deployment's key pair
# and re-signs this model with it. Workers get only the public key (CHATGUARD_MODEL_PUBLIC_KEY).
RUN pip install . \
    && export CHATGUARD_MODEL_SIGNING_KEY=/tmp/build-signing.key \
    && chatguard keys init --public /tmp/build-signing.pub \
    && chatguard train --recipe default --promote --quiet \
    && rm /tmp/build-signing.key /tmp/build-signing.pub

EXPOSE 6066
CMD ["chatguard", "worker", "-l", "info"]
