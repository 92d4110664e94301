//! Link arguments for the freestanding binary (only for `*-none*` targets;
//! host builds of the library are untouched).
fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
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
