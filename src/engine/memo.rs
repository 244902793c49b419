//! A view computed once per binding and then read from memory.
//!
//! DataFusion inlines views (and CTEs): every query that reads a view recomputes it.
//! That is right for cheap views, but `order_line_fulfilment` (each order line's latest
//! version joined with its shipments) is the largest piece of work in a nightly run,
//! and four queries read it (`fill_rate`, `shipment_timeliness`, the
//! `shipped_more_than_ordered` check and the report's fill-rate tiles). A [`MemoView`]
//! runs its plan on the first scan, keeps the result, and answers every later scan
//! from memory until the views are bound again (another as-of or window).
//!
//! The kept result is charged to the session's memory pool. When the pool cannot
//! hold it, nothing is kept and every scan runs the plan as a plain view would: slower,
//! never out of memory.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::{ExecutionPlan, collect_partitioned};
use tokio::sync::OnceCell;

/// A view whose result is computed on first use and then kept (see the module doc).
#[derive(Debug)]
pub struct MemoView {
    name: String,
    plan: LogicalPlan,
    schema: SchemaRef,
    kept: OnceCell<Option<Kept>>,
}

#[derive(Debug)]
struct Kept {
    partitions: Vec<Vec<RecordBatch>>,
    _reservation: MemoryReservation,
}

impl MemoView {
    pub fn new(name: &str, plan: LogicalPlan) -> Self {
        let schema = Arc::clone(plan.schema().inner());
        Self {
            name: name.to_string(),
            plan,
            schema,
            kept: OnceCell::new(),
        }
    }
}

#[async_trait]
impl TableProvider for MemoView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let kept = self
            .kept
            .get_or_try_init(|| async {
                let exec = state.create_physical_plan(&self.plan).await?;
                // Keep the plan's partitions, so later scans are as parallel as it was.
                // Operators emit slices of larger buffers, whose memory a batch cannot
                // tell apart: copy each partition into one compact batch (so its size
                // is its real size), then hand it out again in batch-sized slices.
                let batch_rows = state.config().batch_size().max(1);
                let mut partitions = Vec::new();
                let mut bytes = 0;
                for part in collect_partitioned(exec, state.task_ctx()).await? {
                    let whole = concat_batches(&self.schema, &part)?;
                    bytes += whole.get_array_memory_size();
                    let slices = (0..whole.num_rows())
                        .step_by(batch_rows)
                        .map(|at| whole.slice(at, batch_rows.min(whole.num_rows() - at)))
                        .collect();
                    partitions.push(slices);
                }
                let reservation = MemoryConsumer::new(format!("{} (kept view)", self.name))
                    .register(&state.runtime_env().memory_pool);
                if reservation.try_grow(bytes).is_err() {
                    tracing::info!(
                        view = %self.name,
                        bytes,
                        "the memory limit cannot hold this view's result: it is recomputed per query"
                    );
                    return Ok::<_, datafusion::error::DataFusionError>(None);
                }
                Ok(Some(Kept {
                    partitions,
                    _reservation: reservation,
                }))
            })
            .await?;
        match kept {
            Some(k) => Ok(MemorySourceConfig::try_new_exec(
                &k.partitions,
                Arc::clone(&self.schema),
                projection.cloned(),
            )?),
            None => {
                let mut plan = LogicalPlanBuilder::from(self.plan.clone());
                if let Some(p) = projection {
                    plan = plan.select(p.iter().copied())?;
                }
                state.create_physical_plan(&plan.build()?).await
            }
        }
    }
}
