#!/usr/bin/env bash
# System packages the delivery tests drive for real: headless Chromium + chromedriver
# (the desk's browser test) and the Prometheus server (scrapes the worker and runs every
# dashboard query); and what the monthly report's PDF needs: pango (WeasyPrint draws
# with it) and a Chinese font (Noto Sans CJK), plus poppler-utils to read a PDF back
# (pdffonts/pdftotext in the tests, pdftoppm to look at pages). Idempotent; called by the test set-up and by .ci/run. Exits 0 when
# everything is present, 3 when it cannot install (no root, no apt) so callers can skip
# with that message instead of failing obscurely.
set -uo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ -x /usr/bin/prometheus ] || command -v prometheus >/dev/null || need+=(prometheus)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so' || need+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -n "$(fc-list :lang=zh family 2>/dev/null)" ] || need+=(fonts-noto-cjk)
command -v pdffonts >/dev/null || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "install-test-deps: need root to apt-get install ${need[*]}" >&2; exit 3; fi
else SUDO=; fi
command -v apt-get >/dev/null || { echo "install-test-deps: apt-get not found; install ${need[*]} by hand" >&2; exit 3; }
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a parallel job) may hold the dpkg lock: wait for it rather than fail.
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null \
  || { $SUDO apt-get -o DPkg::Lock::Timeout=600 update >/dev/null && \
       $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null; } \
  || { echo "install-test-deps: apt-get install ${need[*]} failed" >&2; exit 3; }
# The tests run their own Prometheus on a free port with a temporary data directory, so a
# packaged service (if the machine runs one on :9090) is left alone.
exit 0
