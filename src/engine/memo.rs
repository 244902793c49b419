//! A view computed once per binding and then read from memory.
//!
//! DataFusion inlines views (and CTEs): every query that reads a view recomputes it.
//! That is right for cheap views, but `order_line_fulfilment` (each order line's latest
//! version joined with its shipments) is the largest piece of work in a nightly run,
//! and a nightly run reads it four times (`fill_rate`, `shipment_timeliness` and two
//! checks). A [`MemoView`] runs its plan on the first scan, keeps the result, and
//! answers every later scan from memory. The session holds the last one of each view
//! (`order_line_fulfilment`, `order_totals`, `exception_state`, `return_state`, and the
//! raw rows of the order lines changed after the as-of instant) in
//! [`Kept`], under its parameters, so binding those parameters again (after the
//! report's other windows, or the backtest's earlier date) finds it; a run forgets
//! the ones its data checks do not read once its KPIs are done. When only one query
//! reads a view, `bind_views` registers it plain instead: keeping would cost memory
//! and lose the filter pushdown into the view for nothing.
//!
//! The kept result is charged to the session's memory pool. When the pool cannot
//! hold it, nothing is kept: the scan that computed it still uses it, and every later
//! scan runs the plan as a plain view would: slower, never out of memory.

use std::sync::{Arc, Mutex};

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

/// A view whose result is computed on first use and then kept (see the module doc).
#[derive(Debug)]
pub struct MemoView {
    name: String,
    plan: LogicalPlan,
    schema: SchemaRef,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug)]
enum State {
    /// Not computed yet.
    Pending,
    /// Computed and held, charged to the memory pool.
    Held {
        partitions: Vec<Vec<RecordBatch>>,
        _reservation: MemoryReservation,
    },
    /// The pool could not hold it: every scan plans it afresh.
    Plain,
}

/// The session's kept views: one per view name at a time, under the `Debug` text of
/// the parameters it was bound to. A session config extension (see `engine::session`).
#[derive(Debug, Default)]
pub struct Kept(Mutex<std::collections::BTreeMap<String, (String, Arc<MemoView>)>>);

impl Kept {
    /// The kept view `name` bound to `key`, if that is the one held.
    pub fn get(&self, name: &str, key: &str) -> Option<Arc<MemoView>> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.get(name)
            .filter(|(k, _)| k == key)
            .map(|(_, v)| Arc::clone(v))
    }

    /// Hold `view` as `name` under `key`, dropping the one held before (and its
    /// memory, once no registered table refers to it).
    pub fn put(&self, name: &str, key: String, view: Arc<MemoView>) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(name.to_string(), (key, view));
    }

    /// Stop holding view `name` (its memory goes once the session registers another
    /// table under that name: the next binding of the views).
    pub fn forget(&self, name: &str) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(name);
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
        let mut held = self.state.lock().await;
        if matches!(*held, State::Pending) {
            let (partitions, bytes) = self.compute(state).await?;
            let reservation = MemoryConsumer::new(format!("{} (kept view)", self.name))
                .register(&state.runtime_env().memory_pool);
            if reservation.try_grow(bytes).is_ok() {
                *held = State::Held {
                    partitions,
                    _reservation: reservation,
                };
            } else {
                tracing::info!(
                    view = %self.name,
                    bytes,
                    "the memory limit cannot hold this view's result: it is recomputed per query"
                );
                *held = State::Plain;
                // This scan still uses what it computed.
                return self.memory_exec(&partitions, projection);
            }
        }
        match &*held {
            State::Held { partitions, .. } => self.memory_exec(partitions, projection),
            _ => {
                let mut plan = LogicalPlanBuilder::from(self.plan.clone());
                if let Some(p) = projection {
                    plan = plan.select(p.iter().copied())?;
                }
                state.create_physical_plan(&plan.build()?).await
            }
        }
    }
}

impl MemoView {
    pub fn new(name: &str, plan: LogicalPlan) -> Self {
        let schema = Arc::clone(plan.schema().inner());
        Self {
            name: name.to_string(),
            plan,
            schema,
            state: tokio::sync::Mutex::new(State::Pending),
        }
    }

    /// Run the plan and keep its partitions, so later scans are as parallel as it
    /// was. Operators emit slices of larger buffers, whose memory a batch cannot tell
    /// apart: each partition is copied into one compact batch (so its size is its
    /// real size), then handed out again in batch-sized slices. Returns the
    /// partitions and their size in bytes.
    async fn compute(&self, state: &dyn Session) -> Result<(Vec<Vec<RecordBatch>>, usize)> {
        let exec = state.create_physical_plan(&self.plan).await?;
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
        Ok((partitions, bytes))
    }

    fn memory_exec(
        &self,
        partitions: &[Vec<RecordBatch>],
        projection: Option<&Vec<usize>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(MemorySourceConfig::try_new_exec(
            partitions,
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    /// A session with `limit` bytes of memory, a view over 1..=5 passed through
    /// `counted(x)` (which counts the rows it sees), and that counter.
    async fn session(limit: usize) -> (SessionContext, Arc<AtomicUsize>) {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(limit)))
            .build_arc()
            .expect("runtime");
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        let fun = Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            counter.fetch_add(arrays[0].len(), Ordering::SeqCst);
            Ok(ColumnarValue::Array(Arc::clone(&arrays[0])))
        });
        ctx.register_udf(create_udf(
            "counted",
            vec![DataType::Int64],
            DataType::Int64,
            Volatility::Volatile,
            fun,
        ));
        let plan = ctx
            .sql("SELECT counted(column1) * 10 AS x FROM (VALUES (1), (2), (3), (4), (5))")
            .await
            .expect("plan")
            .logical_plan()
            .clone();
        let view = MemoView::new("v", plan);
        ctx.register_table("v", Arc::new(view)).expect("register");
        (ctx, seen)
    }

    async fn total(ctx: &SessionContext) -> i64 {
        let batches = ctx
            .sql("SELECT sum(x) FROM v")
            .await
            .expect("sql")
            .collect()
            .await
            .expect("collect");
        let col = batches[0].column(0);
        let sums = col.as_any().downcast_ref::<Int64Array>().expect("i64");
        sums.value(0)
    }

    #[tokio::test]
    async fn computed_once_then_read_from_memory() {
        let (ctx, seen) = session(64 << 20).await;
        // 10 · (1 + … + 5) = 150, on every read.
        for _ in 0..3 {
            assert_eq!(total(&ctx).await, 150);
        }
        assert_eq!(seen.load(Ordering::SeqCst), 5, "five rows computed once");
    }

    #[tokio::test]
    async fn too_big_for_the_pool_is_computed_per_scan_but_once_for_the_first() {
        let (ctx, seen) = session(1).await;
        for _ in 0..3 {
            assert_eq!(total(&ctx).await, 150);
        }
        assert_eq!(seen.load(Ordering::SeqCst), 15, "one computation per scan");
    }
}
