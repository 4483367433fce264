//! Records libtorch's directory in the `percept` binary (an rpath) so that it
//! runs without LD_LIBRARY_PATH; `cargo xtask` sets LIBTORCH for every build.
//! Also rebuilds the crate when a migration changes: `sqlx::migrate!` embeds
//! them, but cargo does not know to watch that folder.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{libtorch}/lib");
    }
}
