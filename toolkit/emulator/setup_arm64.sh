#!/usr/bin/env bash
# setup_arm64.sh - what `edgekit emulator setup` runs (edgekit.emulator.userland sets the
# EMU_* variables): an arm64 userland to run artifacts under QEMU user mode.
#
# Builds, under $EMU_CACHE (default ~/.cache/edgekit/arm64), without touching the host's
# dpkg/apt state (/var/lib/dpkg, /var/lib/apt, /var/cache/apt, /etc/apt are neither read
# nor written; of the host's apt files only the Debian keyring is read):
#   sysroot/                  Debian 12 (bookworm) arm64 userland: python3.11 + libstdc++6 +
#                             libgomp1 and their dependency closure, unpacked with dpkg -x
#   sysroot/usr/local/lib/python3.11/dist-packages
#                             aarch64 cp311 wheels (numpy, ai-edge-litert, onnxruntime, deps)
#                             at the versions pinned in the project's lock file
#   bin/qemu-aarch64          static QEMU 10 user-mode emulator from Debian 13 (trixie)'s
#                             `qemu-user` .deb (the package holding the static binaries)
#   bin/arm64-python          wrapper: runs the sysroot's python3.11 under qemu-aarch64
#   manifest.txt, timings.txt what was installed (package versions, URLs, sha256) and how long
#
# Idempotent: each step leaves a stamp holding its inputs; a re-run skips steps whose stamp
# matches (EMU_FORCE=1 rebuilds everything).  Runs as root or as an ordinary user: apt-get
# only sees a private configuration (APT_CONFIG) with private Dir::State/Dir::Cache, uses
# --download-only / `download`, and never calls dpkg --install.
#
# Needs on the host: bash, apt-get (>= 2.1, for --error-on), dpkg-deb (Debian/Ubuntu family),
# tar, flock, the Debian archive keyring with at least the bookworm keys (trixie's Release is
# co-signed with the bookworm archive key), a Python 3 with pip (only downloads/unpacks
# wheels; same X.Y as the sysroot's to also byte-compile it), network access to
# deb.debian.org and PyPI.
set -euo pipefail

# ---- configuration ------------------------------------------------------------------------
CACHE=${EMU_CACHE:-$HOME/.cache/edgekit/arm64}
# the versions to install: edgekit writes the host's own (numpy, the runtimes, their deps)
LOCK_FILE=${EMU_LOCK_FILE:?EMU_LOCK_FILE: a pip constraints file with the versions to install}
HOST_PY=${EMU_HOST_PYTHON:-python3}
MIRROR=${EMU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SEC_MIRROR=${EMU_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=${EMU_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
PYPI=${EMU_PYPI_INDEX:-https://pypi.org/simple}
KEEP_DOWNLOADS=${EMU_KEEP_DOWNLOADS:-0}   # 1: keep .debs and apt lists after unpacking
SYSROOT_SUITE=bookworm                    # python3.11 = the cp311 wheels; glibc 2.36
SYSROOT_PKGS="python3.11 libstdc++6 libgomp1"
QEMU_SUITE=trixie                         # QEMU 10.0 (bookworm's 7.2 is broken for LiteRT)
QEMU_PKG=qemu-user                        # trixie: static binaries; qemu-user-static is a
                                          # transitional dummy depending on qemu-user+binfmt
PYVER=3.11
WHEEL_PKGS="numpy ai-edge-litert onnxruntime"
PLATFORMS="manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_27_aarch64 manylinux_2_28_aarch64"
NICE=(nice -n 19)

SYSROOT=$CACHE/sysroot
SITE=$SYSROOT/usr/local/lib/python$PYVER/dist-packages
QEMU=$CACHE/bin/qemu-aarch64

die() { echo "emulator setup: error: $*" >&2; exit 1; }
log() { echo "[emulator setup] $*" >&2; }
now() { date +%s.%N; }
timed() {  # timed LABEL cmd...   (appends to timings.txt)
  local label=$1; shift; local t0; t0=$(now)
  "$@"
  local dt; dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  log "$label: ${dt} s"; echo "$label ${dt}s" >> "$CACHE/timings.txt"
}
stamp_ok() { [[ "${EMU_FORCE:-0}" != 1 && -f "$1" && "$(cat "$1")" == "$2" ]]; }

# ---- preflight ----------------------------------------------------------------------------
preflight() {
  local c
  for c in apt-get dpkg-deb tar flock awk sha256sum; do
    command -v "$c" >/dev/null || die "'$c' not found: this setup needs a Debian/Ubuntu host (apt-get, dpkg-deb)"
  done
  case "$(uname -m)" in
    x86_64) HOST_DEB_ARCH=amd64 ;;
    aarch64) die "the host is already aarch64: run the wheels natively, no emulator needed" ;;
    *) die "unsupported host architecture $(uname -m) (only x86_64 is supported)" ;;
  esac
  [[ -r "$KEYRING" ]] || die "Debian archive keyring $KEYRING not found (apt-get install debian-archive-keyring, or set EMU_DEBIAN_KEYRING)"
  [[ -r "$LOCK_FILE" ]] || die "lock file $LOCK_FILE not found (set EMU_LOCK_FILE)"
  "$HOST_PY" -m pip --version >/dev/null 2>&1 || die "$HOST_PY has no pip (set EMU_HOST_PYTHON to a Python 3 with pip)"
  PINS=()
  local p v
  for p in $WHEEL_PKGS; do
    v=$(grep -iE "^${p//-/[-_.]}==" "$LOCK_FILE" | head -1 | cut -d= -f3) || true
    [[ -n "$v" ]] || die "$p is not pinned in $LOCK_FILE"
    PINS+=("$p==$v")
  done
}

# ---- a private APT "root": nothing of the host's apt config/state is read or written ------
# apt_env NAME ARCH SUITE...  -> sets APT_DIR; writes $APT_DIR/apt.conf; apt-get update
apt_env() {
  local name=$1 arch=$2; shift 2
  APT_DIR=$CACHE/apt/$name
  mkdir -p "$APT_DIR"/{etc/apt.conf.d,etc/sources.list.d,etc/preferences.d,state/lists/partial,cache/archives/partial,log}
  [[ -f "$APT_DIR/state/status" ]] || : > "$APT_DIR/state/status"   # empty dpkg status
  local s src=""
  for s in "$@"; do
    if [[ $s == *-security ]]; then src+="deb [signed-by=$KEYRING] $SEC_MIRROR $s main"$'\n'
    else src+="deb [signed-by=$KEYRING] $MIRROR $s main"$'\n'; fi
  done
  printf '%s' "$src" > "$APT_DIR/etc/sources.list"
  # APT_CONFIG is read first; setting Dir::Etc::main/parts here keeps /etc/apt/apt.conf{,.d}
  # (and with them any host Post-Invoke hooks, proxies, pins) out.
  cat > "$APT_DIR/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$APT_DIR/etc/apt.conf.d";
Dir::Etc::sourcelist "$APT_DIR/etc/sources.list";
Dir::Etc::sourceparts "$APT_DIR/etc/sources.list.d";
Dir::Etc::preferences "$APT_DIR/etc/preferences";
Dir::Etc::preferencesparts "$APT_DIR/etc/preferences.d";
Dir::State "$APT_DIR/state";
Dir::State::lists "$APT_DIR/state/lists";
Dir::State::status "$APT_DIR/state/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::archives "$APT_DIR/cache/archives";
Dir::Log "$APT_DIR/log";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
EOF
  if [[ ! -f "$APT_DIR/state/lists/.updated" ]]; then
    # --error-on=any: without it an unreachable mirror is only a warning (exit 0) and the
    # failure shows up later as "Unable to locate package"
    APT_CONFIG=$APT_DIR/apt.conf "${NICE[@]}" apt-get -q update --error-on=any >"$APT_DIR/log/update.log" 2>&1 \
      || { grep -E '^(W|E|Err):' "$APT_DIR/log/update.log" >&2
           die "apt-get update ($name: $*) failed: is $MIRROR reachable and does $KEYRING hold the $1 key?"; }
    touch "$APT_DIR/state/lists/.updated"
  fi
}
apt_clean() { [[ "$KEEP_DOWNLOADS" == 1 ]] || rm -rf "$APT_DIR/state/lists" "$APT_DIR/cache"; }

# ---- 1. arm64 sysroot ---------------------------------------------------------------------
build_sysroot() {
  local key="$SYSROOT_SUITE arm64 $SYSROOT_PKGS"
  if stamp_ok "$SYSROOT/.edgekit-sysroot" "$key"; then log "sysroot: up to date"; return; fi
  apt_env sysroot-$SYSROOT_SUITE arm64 $SYSROOT_SUITE $SYSROOT_SUITE-updates $SYSROOT_SUITE-security
  rm -f "$APT_DIR"/cache/archives/*.deb
  APT_CONFIG=$APT_DIR/apt.conf "${NICE[@]}" apt-get -q -y install --download-only $SYSROOT_PKGS \
    >"$APT_DIR/log/install.log" 2>&1 || { cat "$APT_DIR/log/install.log" >&2; die "downloading the arm64 packages failed"; }
  local tmp=$CACHE/sysroot.new d
  rm -rf "$tmp" "$SYSROOT"; mkdir -p "$tmp"
  {
    echo "# arm64 sysroot: Debian $SYSROOT_SUITE, apt-get install --download-only $SYSROOT_PKGS"
    for d in "$APT_DIR"/cache/archives/*.deb; do
      "${NICE[@]}" dpkg-deb -x "$d" "$tmp"      # unpack only: no maintainer scripts, no dpkg db
      printf 'deb %s %s %s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)" \
        "$(sha256sum "$d" | cut -c1-64)"
    done
  } > "$CACHE/manifest.sysroot.txt"
  chmod 755 "$tmp"                    # dpkg-deb -x copies the archive root's mode onto $tmp
  mkdir -p "$tmp/usr/local/lib/python$PYVER/dist-packages"
  # The sysroot is never "installed", so Debian's py3compile postinst never ran: byte-compile
  # the stdlib with the host's python if it is the same X.Y (.pyc is arch-independent; the
  # paths baked in are the ones the emulated python sees, since -L keeps absolute paths).
  mv "$tmp" "$SYSROOT"
  precompile "$SYSROOT/usr/lib/python$PYVER"
  echo "$key" > "$SYSROOT/.edgekit-sysroot"
  apt_clean
}

precompile() {
  if [[ "$("$HOST_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == "$PYVER" ]]; then
    "${NICE[@]}" "$HOST_PY" -m compileall -q -j 1 -x '/(test|tests|idlelib|tkinter|turtledemo)/' "$1" >/dev/null 2>&1 || true
  fi
}

# ---- 2. static qemu-aarch64 from trixie's qemu-user ---------------------------------------
get_qemu() {
  local key="$QEMU_SUITE $QEMU_PKG $HOST_DEB_ARCH"
  if stamp_ok "$CACHE/bin/.edgekit-qemu" "$key" && "$QEMU" --version >/dev/null 2>&1; then
    log "qemu-aarch64: up to date ($("$QEMU" --version | head -1))"; return; fi
  apt_env qemu-$QEMU_SUITE "$HOST_DEB_ARCH" $QEMU_SUITE $QEMU_SUITE-updates $QEMU_SUITE-security
  local dl=$APT_DIR/cache/archives
  rm -f "$dl"/*.deb
  # `apt-get download` fetches just this .deb (no dependency resolution, nothing installed);
  # --print-uris first, for the manifest.
  local uri; uri=$(APT_CONFIG=$APT_DIR/apt.conf apt-get download --print-uris "$QEMU_PKG" | head -1)
  (cd "$dl" && APT_CONFIG=$APT_DIR/apt.conf "${NICE[@]}" apt-get -q download "$QEMU_PKG" >/dev/null) \
    || die "apt-get download $QEMU_PKG from $QEMU_SUITE failed"
  local deb; deb=$(ls "$dl"/${QEMU_PKG}_*.deb)
  mkdir -p "$CACHE/bin"
  local tmp; tmp=$(mktemp -d "$CACHE/qemu.XXXXXX")
  "${NICE[@]}" dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/bin/qemu-aarch64 \
    || die "./usr/bin/qemu-aarch64 not in $deb"
  mv "$tmp/usr/bin/qemu-aarch64" "$QEMU"; rm -rf "$tmp"
  # must be static: a dynamic one would need trixie's libglib etc. on this host
  if command -v readelf >/dev/null && readelf -l "$QEMU" | grep -q 'Requesting program interpreter'; then
    die "$QEMU is dynamically linked (package layout changed?)"; fi
  "$QEMU" --version >/dev/null || die "$QEMU does not run on this host"
  printf 'qemu %s %s %s\n  %s\n  qemu-aarch64 sha256 %s\n' "$(dpkg-deb -f "$deb" Package)" \
    "$(dpkg-deb -f "$deb" Version)" "$(sha256sum "$deb" | cut -c1-64)" "$uri" \
    "$(sha256sum "$QEMU" | cut -c1-64)" > "$CACHE/manifest.qemu.txt"
  echo "$key" > "$CACHE/bin/.edgekit-qemu"
  apt_clean
}

# ---- 3. aarch64 wheels, pinned to the lock ------------------------------------------------
get_wheels() {
  local key; key="${PINS[*]} $(sha256sum "$LOCK_FILE" | cut -c1-16) $PLATFORMS"
  if stamp_ok "$SITE/.edgekit-wheels" "$key"; then log "wheels: up to date"; return; fi
  local plat=() p
  for p in $PLATFORMS; do plat+=(--platform "$p"); done
  local tags=(--only-binary=:all: "${plat[@]}" --python-version "$PYVER" --implementation cp
              --abi "cp${PYVER/./}" --abi abi3 --abi none)
  # --isolated + PIP_CONFIG_FILE=/dev/null: ignore the host's pip.conf/env (find-links, extra
  # indexes, constraint files); the lock file is the constraint set, so the dependencies
  # (protobuf, flatbuffers, ml_dtypes, ...) also come at the locked versions.
  local pip=(env PIP_CONFIG_FILE=/dev/null "${NICE[@]}" "$HOST_PY" -m pip --isolated
             --disable-pip-version-check --cache-dir "$CACHE/pip-cache")
  rm -rf "$CACHE/wheels.new"; mkdir -p "$CACHE/wheels.new"
  "${pip[@]}" download -q --index-url "$PYPI" "${tags[@]}" -c "$LOCK_FILE" -d "$CACHE/wheels.new" "${PINS[@]}" \
    || die "pip download of aarch64 wheels failed (is $PYPI reachable? are there cp${PYVER/./} aarch64 wheels for ${PINS[*]}?)"
  rm -rf "$CACHE/wheels"; mv "$CACHE/wheels.new" "$CACHE/wheels"
  rm -rf "$SITE"; mkdir -p "$SITE"
  "${pip[@]}" install -q --no-index --no-deps --no-compile "${tags[@]}" --target "$SITE" "$CACHE"/wheels/*.whl \
    || die "installing the wheels into $SITE failed"
  rm -rf "$SITE/bin"                                       # x86-launcher console scripts: useless here
  precompile "$SITE"
  (cd "$CACHE/wheels" && sha256sum *.whl | sed 's/^/wheel /') > "$CACHE/manifest.wheels.txt"
  echo "$key" > "$SITE/.edgekit-wheels"
  [[ "$KEEP_DOWNLOADS" == 1 ]] || rm -rf "$CACHE/pip-cache"
}

# ---- 4. wrapper + smoke test --------------------------------------------------------------
write_wrapper() {
  mkdir -p "$CACHE/home"
  cat > "$CACHE/bin/arm64-python" <<EOF
#!/bin/sh
# python$PYVER (aarch64) under QEMU user mode. EMU_CPU: a qemu-aarch64 -cpu model (default
# neoverse-n1; see \`$QEMU -cpu help\`; 'max' = every feature QEMU has, e.g. SVE2/SME: no
# real phone core). Clean environment: the host's PYTHONPATH/PYTHONHOME/venv must not leak
# in; HOME/XDG_CACHE_HOME point into the cache because onnxruntime writes
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db} on import.
exec env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$CACHE/home" XDG_CACHE_HOME="$CACHE/home/.cache" \\
  PYTHONNOUSERSITE=1 \\
  "$QEMU" -cpu "\${EMU_CPU:-neoverse-n1}" -L "$SYSROOT" "$SYSROOT/usr/bin/python$PYVER" "\$@"
EOF
  chmod +x "$CACHE/bin/arm64-python"
}

smoke() {
  "$CACHE/bin/arm64-python" -c '
import platform, numpy, ai_edge_litert, onnxruntime
from ai_edge_litert.interpreter import Interpreter
print(platform.machine(), platform.python_version(), "numpy", numpy.__version__,
      "litert", getattr(ai_edge_litert, "__version__", "?"), "onnxruntime", onnxruntime.__version__)' \
    || die "smoke test failed: $CACHE/bin/arm64-python cannot import numpy/ai_edge_litert/onnxruntime"
}

main() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -n 9 || die "another setup is running on $CACHE"
  preflight
  : > "$CACHE/timings.txt"
  local t0; t0=$(now)
  timed "sysroot ($SYSROOT_SUITE arm64: $SYSROOT_PKGS)" build_sysroot
  timed "qemu-aarch64 ($QEMU_SUITE $QEMU_PKG)" get_qemu
  timed "wheels (${PINS[*]})" get_wheels
  write_wrapper
  timed "smoke test (emulated import)" smoke
  cat "$CACHE"/manifest.{sysroot,qemu,wheels}.txt > "$CACHE/manifest.txt"
  log "total $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s; disk: $(du -sh "$CACHE" | cut -f1)"
  log "run: $CACHE/bin/arm64-python script.py   (EMU_CPU=cortex-a53|cortex-a76|neoverse-n1|...)"
}
main "$@"
