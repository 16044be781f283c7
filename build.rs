//! Builds the helper trace shim (src/sandbox/shim/trace_shim.c) with the
//! machine's C compiler. Without one the build still succeeds: stopbench
//! then reports race windows of helper-run strategies as not measured.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/sandbox/shim/trace_shim.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo::rustc-check-cfg=cfg(stopbench_shim)");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let so = out.join("trace_shim.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&so)
        .arg(src)
        .arg("-ldl")
        .status()
        .is_ok_and(|s| s.success());
    if built {
        println!("cargo:rustc-cfg=stopbench_shim");
    } else {
        println!("cargo:warning=no C compiler ({cc}): race windows of helper-run strategies will not be measured");
    }
}
