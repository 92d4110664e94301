//! Makes `per_arch!` (see `lib.rs`) from `arches.txt`: one test module per
//! arch, so an arch added to the table gets every black-box test at once.

fn main() {
    let table_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../arches.txt");
    println!("cargo:rerun-if-changed={table_path}");
    let table: &'static str = std::fs::read_to_string(table_path).unwrap().leak();
    let modules: String = arch_table::parse(table)
        .iter()
        .map(|arch| {
            format!(
                "mod {module} {{ $( #[test] fn $name() {{ super::$name(&$crate::Binary::for_arch({name:?})); }} )* }}\n",
                module = arch.module(),
                name = arch.name,
            )
        })
        .collect();
    let per_arch = format!(
        "/// Defines, for each test function named, one `#[test]` per arch of\n\
         /// `arches.txt`: `amd64::name`, `arm64::name`, ... each calling `name(&Binary)`.\n\
         #[macro_export]\n\
         macro_rules! per_arch {{\n    ($($name:ident),* $(,)?) => {{\n{modules}    }};\n}}\n"
    );
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("per_arch.rs");
    std::fs::write(out, per_arch).unwrap();
}
