//! A lake table as DataFusion reads it: the Parquet files of one Delta table version
//! (from its log, never from a folder listing: a folder also holds files an ingest
//! has not committed yet and files a compaction replaced), with `event_date` as a
//! partition column. Filters on `event_date` prune whole files here; the rest go down
//! to the Parquet reader (row groups and pages) through DataFusion's own rules.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use crate::contract::PARTITION_COLUMN;

/// One data file: its path in the object store, size, partition date (days since the
/// epoch) and rows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LakeFile {
    pub path: String,
    pub size: u64,
    pub date: Option<i32>,
    pub rows: Option<usize>,
}

/// The files of one table version.
#[derive(Debug)]
pub struct LakeTable {
    /// The file columns then `event_date`.
    schema: SchemaRef,
    file_schema: SchemaRef,
    store: ObjectStoreUrl,
    files: Vec<LakeFile>,
}

impl LakeTable {
    pub fn new(file_schema: SchemaRef, store: ObjectStoreUrl, files: Vec<LakeFile>) -> LakeTable {
        let mut fields: Vec<Arc<Field>> = file_schema.fields().iter().cloned().collect();
        fields.push(Arc::new(partition_field()));
        LakeTable {
            schema: Arc::new(Schema::new(fields)),
            file_schema,
            store,
            files,
        }
    }

    /// The object store the files are in (`file://`, `s3://bucket`).
    pub fn store(&self) -> &ObjectStoreUrl {
        &self.store
    }

    /// The files of this table version.
    pub fn files(&self) -> &[LakeFile] {
        &self.files
    }

    /// The files whose `event_date` passes every partition filter.
    fn prune(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> datafusion::error::Result<Vec<&LakeFile>> {
        if filters.is_empty() || self.files.is_empty() {
            return Ok(self.files.iter().collect());
        }
        let part_schema = Arc::new(Schema::new(vec![partition_field()]));
        let dates: ArrayRef = Arc::new(Date32Array::from(
            self.files.iter().map(|f| f.date).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&part_schema), vec![dates])?;
        let df_schema = DFSchema::try_from(Arc::clone(&part_schema))?;
        let mut keep = vec![true; self.files.len()];
        for f in filters {
            let expr = state.create_physical_expr(f.clone(), &df_schema)?;
            let result = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(mask) = result.as_any().downcast_ref::<BooleanArray>() else {
                continue;
            };
            for (i, k) in keep.iter_mut().enumerate() {
                // NULL (an unknown date) keeps the file: pruning must never drop rows.
                if mask.is_valid(i) && !mask.value(i) {
                    *k = false;
                }
            }
        }
        Ok(self
            .files
            .iter()
            .zip(keep)
            .filter_map(|(f, k)| k.then_some(f))
            .collect())
    }
}

fn partition_field() -> Field {
    Field::new(PARTITION_COLUMN, DataType::Date32, true)
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&[PARTITION_COLUMN], f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&[PARTITION_COLUMN], f))
            .cloned()
            .collect();
        let files = self.prune(state, &partition_filters)?;
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        // Files in as many groups as the session has partitions, balanced by size.
        let n = state.config().target_partitions().max(1).min(files.len());
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> =
            (0..n).map(|_| (0, Vec::new())).collect();
        let mut sorted = files.clone();
        sorted.sort_by(|a, b| b.size.cmp(&a.size).then(a.path.cmp(&b.path)));
        let mut rows: Option<usize> = Some(0);
        for f in sorted {
            rows = rows.zip(f.rows).map(|(a, b)| a + b);
            let date = ScalarValue::Date32(f.date);
            let pf = PartitionedFile::new(f.path.clone(), f.size).with_partition_values(vec![date]);
            if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
                g.0 += f.size;
                g.1.push(pf);
            }
        }
        let table_schema = TableSchemaBuilder::new(Arc::clone(&self.file_schema))
            .with_table_partition_cols(vec![Arc::new(partition_field())])
            .build();
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(table_schema);
        let mut stats = Statistics::new_unknown(&self.schema);
        if let Some(r) = rows {
            stats.num_rows = Precision::Exact(r);
        }
        let config = FileScanConfigBuilder::new(self.store.clone(), source)
            .with_file_groups(
                groups
                    .into_iter()
                    .filter(|g| !g.1.is_empty())
                    .map(|g| FileGroup::new(g.1))
                    .collect(),
            )
            .with_statistics(stats)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}
