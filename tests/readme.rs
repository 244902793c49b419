//! The README's table reference is generated from the contract declaration; this test
//! fails when they drift (`UPDATE_README=1 cargo test --release readme` rewrites it).

#[test]
fn readme_table_reference_matches_the_contract() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (start, end) = ("<!-- tables:start -->\n", "<!-- tables:end -->");
    let a = readme.find(start).expect("start marker") + start.len();
    let b = readme.find(end).expect("end marker");
    let generated = opintel::contract::markdown_reference();
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{}{}", &readme[..a], generated, &readme[b..]);
        std::fs::write(&path, updated).expect("write README");
        return;
    }
    assert_eq!(
        &readme[a..b],
        generated,
        "README table reference is stale: UPDATE_README=1 cargo test --release readme"
    );
}
