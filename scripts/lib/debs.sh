# Sourced by scripts/setup.sh and scripts/arm64/setup.sh.
# missing_debs PKG...: prints, one per line, the Debian packages of the list that are not installed (PKG may carry
# an architecture, e.g. libbpf-dev:arm64).
missing_debs() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}
