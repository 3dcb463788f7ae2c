# Sourced by the bench scripts: make numpy (and Debian's torch) call OpenBLAS, then set $blas to the
# library numpy loads. Debian's torch and numpy call libblas.so.3; when that is not OpenBLAS,
# Debian's libopenblas0-pthread is unpacked (not installed) from `apt-get download` into a cache
# folder and put first on LD_LIBRARY_PATH, so the machine's BLAS alternatives stay as they are.
# Needs $python.

blas_library() {
    OPENBLAS_NUM_THREADS=1 "$python" -c "import numpy; numpy.dot(numpy.ones((2, 2), numpy.float32), numpy.ones((2, 2), numpy.float32))
print(next((l.split()[-1] for l in open('/proc/self/maps') if l.split()[-1].rsplit('/', 1)[-1].startswith(('libblas', 'libopenblas'))), 'none'))"
}

if ! blas_library | grep -qi openblas; then
    multiarch_dir=/usr/lib/x86_64-linux-gnu/openblas-pthread
    if [[ ! -e "$multiarch_dir/libblas.so.3" ]]; then
        cache="${XDG_CACHE_HOME:-$HOME/.cache}/unroll-openblas"
        multiarch_dir="$cache/root/usr/lib/x86_64-linux-gnu/openblas-pthread"
        if [[ ! -e "$multiarch_dir/libblas.so.3" ]]; then
            mkdir -p "$cache"
            (cd "$cache" && apt-get download libopenblas0-pthread >/dev/null 2>&1 && dpkg -x libopenblas0-pthread_*.deb root) || {
                echo "error: numpy is not using OpenBLAS and libopenblas0-pthread could not be fetched (apt-get update first?)" >&2
                exit 1
            }
        fi
    fi
    export LD_LIBRARY_PATH="$multiarch_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

blas="$(blas_library)"
grep -qi openblas <<<"$blas" || { echo "error: numpy still loads '$blas', not OpenBLAS" >&2; exit 1; }
