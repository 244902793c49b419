#![cfg_attr(doc, doc = include_str!("../README.md"))]
//! opintel: warehouse exports → validated lake → DataFusion KPIs → report.
//!
//! The modules are layers; each may use the ones listed before it and never one
//! after it (`tests/it/layers.rs` fails on an upward import or a cycle):
//!
//! | layer | what it holds | what it may not know |
//! |---|---|---|
//! | `error` | the error type | anything else |
//! | `fault`, `progress`, `runtime` | crash points for tests; progress callbacks; the one async runtime | each other, anything above |
//! | `contract` | the canonical tables, declared once | files, settings, engines |
//! | `config` | the settings file, checked key by key | flags, the lake, queries |
//! | `ingest` | export files → validated Arrow batches and rejects | where rows are stored |
//! | `lake` | storage: tables, transactions, de-duplication, the lock | SQL, KPIs |
//! | `engine` | the DataFusion runtime and session over the lake | which KPIs exist |
//! | `kpi` | query files, running them, checks, priority evaluation, freshness, tiles | HTML |
//! | `report` | the page model from KPI tables, its template, the charts | publishing |
//! | `publish` | the manifest, atomic report folders | commands |
//! | `alert` | alert rules over a published run, webhook and mail delivery, sent-once state | commands |
//! | `app` | the commands: the nightly run as stages, demo, ingest, sql, check … | flags, printing |
//!
//! The binary (`src/bin/opintel`) turns flags and the config file into the `app`
//! requests in one step, calls one function and prints what it returns. The library
//! never prints and never sees a command-line type.

pub mod error;
pub mod fault;
pub mod progress;
pub mod runtime;

pub mod contract;

pub mod config;

pub mod ingest;

pub mod lake;

pub mod engine;

pub mod kpi;

pub mod report;

pub mod publish;

pub mod alert;

pub mod app;

pub use error::{Error, Result};
