"""`python -m infra.stack`: fetch what `aiqleads up` needs ahead of time (the Kafka jars)."""

from __future__ import annotations

import logging
import sys

from infra.stack.jars import ensure_kafka_jars
from infra.stack.service import StackError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[deps] %(message)s")
    try:
        ensure_kafka_jars()
    except StackError as exc:
        logging.getLogger("infra.stack").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
