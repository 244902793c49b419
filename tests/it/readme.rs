//! The documents generated from code stay in sync with it: the table reference in
//! `docs/contract.md` (from the contract declaration) and `docs/kpis.md` (from the
//! query headers). `UPDATE_DOCS=1 cargo test --release docs_` rewrites them. And
//! nothing in the repository's documents points at a file that is not in it.

use crate::common::root;

fn between_markers(text: &str) -> (usize, usize) {
    let (start, end) = ("<!-- tables:start -->\n", "<!-- tables:end -->");
    let a = text.find(start).expect("start marker") + start.len();
    let b = text.find(end).expect("end marker");
    (a, b)
}

#[test]
fn docs_table_reference_matches_the_contract() {
    let path = root().join("docs/contract.md");
    let doc = std::fs::read_to_string(&path).expect("docs/contract.md");
    let (a, b) = between_markers(&doc);
    let generated = opintel::contract::markdown_reference();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{}{}", &doc[..a], generated, &doc[b..]);
        std::fs::write(&path, updated).expect("write docs/contract.md");
        return;
    }
    assert_eq!(
        &doc[a..b],
        generated,
        "docs/contract.md's table reference is stale: UPDATE_DOCS=1 cargo test --release docs_"
    );
}

#[test]
fn docs_kpi_definitions_match_the_query_headers() {
    let path = root().join("docs/kpis.md");
    let generated = opintel::kpi::markdown_reference().expect("query headers");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/kpis.md");
        return;
    }
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        doc == generated,
        "docs/kpis.md is stale: UPDATE_DOCS=1 cargo test --release docs_"
    );
}

/// Every relative link of the Markdown documents resolves inside the repository.
#[test]
fn docs_links_stay_inside_the_repository() {
    let mut bad = Vec::new();
    for doc in [
        "README.md",
        "docs/contract.md",
        "docs/kpis.md",
        "bench/README.md",
        "notebooks/README.md",
        "tests/reference/README.md",
    ] {
        let path = root().join(doc);
        let Ok(text) = std::fs::read_to_string(&path) else {
            bad.push(format!("{doc}: missing"));
            continue;
        };
        let base = path.parent().expect("folder").to_path_buf();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let target: String = rest.chars().take_while(|c| *c != ')').collect();
            let target = target.split('#').next().unwrap_or("").trim();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = base.join(target);
            let inside = std::path::absolute(&resolved)
                .map(|p| p.starts_with(root()))
                .unwrap_or(false);
            if !inside || !resolved.exists() {
                bad.push(format!("{doc}: ({target})"));
            }
        }
        for outside in ["CONTRACT.md", "shared/", "notes/"] {
            if text.contains(outside) {
                bad.push(format!("{doc}: mentions {outside}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "links that leave the repository or go nowhere:\n{}",
        bad.join("\n")
    );
}
