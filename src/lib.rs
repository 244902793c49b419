#![cfg_attr(doc, doc = include_str!("../README.md"))]
//! opintel: warehouse exports → validated Parquet lake → DataFusion KPIs → report.

pub mod cli;
pub mod config;
pub mod contract;
mod demo;
pub mod engine;
pub mod error;
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod ingest;
pub mod kpi;
pub mod lake;
pub mod manifest;
pub mod priority;
pub mod publish;
pub mod report;
pub mod run;
pub mod sql;

pub use error::{Error, Result};
