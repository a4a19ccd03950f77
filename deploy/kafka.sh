#!/usr/bin/env bash
# Local Kafka without the Python entry point installed: ./deploy/kafka.sh start|stop|status [--nodes 3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="python3"
if [[ -x "$root/.venv/bin/python" ]]; then
    python="$root/.venv/bin/python"
fi
exec "$python" -m socialpulse.deploy.cli kafka "$@"
