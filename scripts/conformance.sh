#!/usr/bin/env bash
# Drives the emulator with the official Alibaba Cloud Python SDKs (installed from PyPI into
# target/sdk-venv): a whole product life with each signer, and a forged signature.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=target/sdk-venv
if [ ! -x "$VENV/bin/pytest" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    'alibabacloud-iot20180120==5.1.0' 'alibabacloud-credentials==1.0.12' \
    'aliyun-python-sdk-iot==8.59.0' 'aliyun-python-sdk-core==2.16.1' 'pytest==8.3.4'
fi
cargo build --quiet --locked -p iot-platform-emulator --bin iot-platform-emulator
IOTOP_EMULATOR_BIN="$PWD/target/debug/iot-platform-emulator" "$VENV/bin/pytest" -q tests/conformance "$@"
