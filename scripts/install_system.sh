#!/usr/bin/env bash
# System packages the book needs beyond the virtualenv: Debian's `chromium` (headless
# screenshots and DOM checks in tests/test_book.py) and `npm` (book/fetch_assets.py packs
# require.js, the ipywidgets HTML manager and MathJax so the HTML works offline).
# Quick when everything is already there; needs root (or sudo) only to install chromium.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install_system: chromium present ($(chromium --version 2>/dev/null | head -n1))"
else
    echo "install_system: installing Debian chromium with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "install_system: not root and no sudo; run as root: apt-get install chromium" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
    command -v chromium >/dev/null 2>&1 || { echo "install_system: chromium still missing" >&2; exit 1; }
fi

if command -v npm >/dev/null 2>&1; then
    echo "install_system: npm present ($(npm --version))"
else
    echo "install_system: npm is missing; book/fetch_assets.py needs it." >&2
    echo "  Debian: apt-get install -y npm   (or install Node.js >= 18, which ships npm)" >&2
    exit 1
fi
