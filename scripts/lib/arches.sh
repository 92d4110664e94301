# The arch table (arches.txt, at the repository root) for bash. Sourced by
# scripts/build, scripts/docker-arch (so the Dockerfile), scripts/image and
# scripts/lint; the Rust and Python tests read the same file themselves.
#
#   ALL_ARCHES              every arch, in the table's order
#   rust_target ARCH        its Rust target (fails, naming the arches, for any other)
#   arch_of_platform P      the arch that runs Docker platform P (linux/arm/v7)
declare -ga ALL_ARCHES=()
declare -gA RUST_TARGET_OF=() PLATFORM_OF=()
while read -r arch platform rust_target _; do
    [[ -z $arch || $arch == \#* ]] && continue
    ALL_ARCHES+=("$arch")
    RUST_TARGET_OF[$arch]=$rust_target
    PLATFORM_OF[$arch]=$platform
done < "$(dirname "${BASH_SOURCE[0]}")/../../arches.txt"

rust_target() {
    if [[ -z ${RUST_TARGET_OF[$1]:-} ]]; then
        echo "unsupported arch '$1' (supported: ${ALL_ARCHES[*]})" >&2
        return 1
    fi
    echo "${RUST_TARGET_OF[$1]}"
}

# The row with exactly this platform; else the row with the platform less its
# variant: a row without a variant serves every variant (amd64 v2 to v4 are
# feature levels the baseline binary runs on).
arch_of_platform() {
    local arch
    for wanted in "$1" "${1%/*}"; do
        for arch in "${ALL_ARCHES[@]}"; do
            [[ ${PLATFORM_OF[$arch]} == "$wanted" ]] && { echo "$arch"; return 0; }
        done
        [[ $1 == linux/*/* ]] || break   # no variant to drop
    done
    return 1
}
