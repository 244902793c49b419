//! opintel's integration tests: one test binary (one link of DataFusion), a module per
//! topic. Each test runs the real `opintel` binary in its own temporary folder and
//! checks what it wrote against values computed independently of the code under test
//! (hand-computed fixtures, DuckDB, invariants). Fixtures: `data/fixtures/`.

mod common;

mod alerts;
mod analysts;
mod bad_input;
mod cluster;
mod delta_lake;
mod drivers;
mod fixture_kpis;
mod generator_contract;
mod ingest_formats;
mod inventory;
mod lake_layout;
mod layers;
mod line_fulfilment;
mod line_state;
mod mapping;
mod nightly;
mod priority;
mod readme;
mod reference_duckdb;
mod report;
