//! Link arguments for the freestanding binary.
fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");
    // Only the freestanding release binaries, which are always cross-built
    // (x86_64-unknown-none is not the host even on x86_64); host builds of
    // the library for tests are untouched.
    if std::env::var("TARGET").unwrap() == std::env::var("HOST").unwrap() {
        return;
    }
    for arg in [
        // Our own layout: one R+X segment with the headers (see linker.ld).
        format!("-T{manifest}/linker.ld"),
        // Static, not static-PIE: no dynamic section, no relocations to apply.
        "--no-pie".into(),
        "-static".into(),
        // Drop every function and constant nothing reaches.
        "--gc-sections".into(),
        // No build-id note (reproducible, and 36 bytes).
        "--build-id=none".into(),
        // Pages need not be padded in the file: the segment starts at offset 0.
        "-n".into(),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
