//! Common table expressions computed once.
//!
//! DataFusion inlines a CTE at every reference: a query that reads `exceptions` six
//! times scans `exception_events` six times. On a long history that is most of the
//! query (the count priority read each event table three to six times: about 60% of its
//! CPU at 365 days). A query asks for a CTE to be computed once with a header line
//!
//! ```sql
//! -- materialize: exceptions, count_evidence
//! ```
//!
//! (anywhere among its leading comments, or anywhere in a query that wraps another, so
//! the line survives `SELECT … FROM (<query>)`). Before the query runs, each named CTE,
//! in the order listed (list one a later one reads first), is planned, run and kept in
//! memory, and every reference to it reads that result. The answer is the same; only
//! the work differs. Names that the query does not define are ignored.
//!
//! Only for results that fit in memory beside the query: the result is held for the
//! whole query, outside the memory pool's accounting (the count priority's exceptions
//! at 365 days: about 400 k rows; a whole build of the order-line state keeps each
//! pass's winning versions, a pass being sized to a quarter of the memory limit). On a
//! Ballista cluster nothing is materialised (the in-memory table cannot travel to the
//! executors): the query runs as written.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Constraint, Constraints, Dependency, FunctionalDependencies};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::Result;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;

/// The values of `-- <key>:` comment lines anywhere in `sql` (so they survive a query
/// that wraps another), in order.
pub fn header_values<'a>(sql: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    sql.lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(move |l| {
            let (k, value) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(key).then_some(value)
        })
}

/// The CTE names of `-- materialize:` lines in `sql`, lower-cased, in order.
pub fn requested(sql: &str) -> Vec<String> {
    header_values(sql, "materialize")
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// `plan` with each CTE in `names` computed once (see the module doc); unchanged on a
/// Ballista session.
pub async fn apply(
    ctx: &SessionContext,
    plan: LogicalPlan,
    names: &[String],
) -> Result<LogicalPlan> {
    if names.is_empty() || on_cluster(ctx) {
        return Ok(plan);
    }
    let mut plan = plan;
    for name in names {
        let Some(input) = first_definition(&plan, name) else {
            continue;
        };
        let started = std::time::Instant::now();
        let table = run(ctx, input).await?;
        tracing::debug!(
            cte = name.as_str(),
            seconds = started.elapsed().as_secs_f64(),
            "common table expression kept"
        );
        let scan = LogicalPlanBuilder::scan(name.as_str(), provider_as_source(table), None)?
            .alias(name.as_str())?
            .build()?;
        // With subqueries: a CTE read only inside EXISTS / IN (…) is replaced there too.
        plan = plan
            .transform_down_with_subqueries(|node| match &node {
                LogicalPlan::SubqueryAlias(a) if a.alias.table() == name => Ok(Transformed::new(
                    scan.clone(),
                    true,
                    TreeNodeRecursion::Jump,
                )),
                _ => Ok(Transformed::no(node)),
            })?
            .data;
    }
    // Parents keep schemas computed from the CTE's plan; the kept result may say
    // "nullable" where the plan did not.
    plan.transform_up_with_subqueries(|node| Ok(Transformed::yes(node.recompute_schema()?)))
        .map(|t| t.data)
}

/// Whether `ctx` sends its queries to a Ballista cluster.
pub(crate) fn on_cluster(ctx: &SessionContext) -> bool {
    ctx.state()
        .config()
        .options()
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some()
}

/// The plan of the first reference to CTE `name` (every reference has the same one).
fn first_definition(plan: &LogicalPlan, name: &str) -> Option<LogicalPlan> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::SubqueryAlias(a) = node
            && a.alias.table() == name
        {
            found = Some(a.input.as_ref().clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    found
}

/// Run `input` and keep its rows in memory, spread over the session's partitions.
async fn run(ctx: &SessionContext, input: LogicalPlan) -> Result<Arc<MemTable>> {
    let planned = input.schema().as_arrow().clone();
    let input_keys = input.schema().functional_dependencies().clone();
    let batches = ctx.execute_logical_plan(input).await?.collect().await?;
    // The batches' word on nullability wins where it is looser than the plan's.
    let fields: Vec<Field> = planned
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let loose = batches
                .iter()
                .any(|b| b.schema().fields().get(i).is_some_and(|x| x.is_nullable()));
            f.as_ref().clone().with_nullable(f.is_nullable() || loose)
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        planned.metadata().clone(),
    ));
    let n = ctx.state().config().target_partitions().max(1);
    let mut partitions = vec![Vec::new(); n];
    for (i, b) in batches.into_iter().enumerate() {
        partitions[i % n].push(b);
    }
    Ok(Arc::new(
        MemTable::try_new(schema, partitions)?
            .with_constraints(keys(&input_keys, planned.fields().len())),
    ))
}

/// The keys DataFusion knows of a CTE's result (a GROUP BY's columns, say), as
/// constraints of the table that keeps it. The plan around the CTE was made with them:
/// a GROUP BY over a relation built on the CTE gets the columns DataFusion takes to
/// follow from a key added to its grouping, and its optimizer takes them out again
/// with the same knowledge. A kept table without the keys left them in: the count
/// priority's phantom stock, rewritten to group short picks by exception after a join,
/// grouped them by exception and day (DataFusion 55 takes a key of the CTE to
/// determine every column of an aggregate that groups by that key and others).
fn keys(deps: &FunctionalDependencies, fields: usize) -> Constraints {
    Constraints::new_unverified(
        deps.iter()
            .filter(|d| d.mode == Dependency::Single && d.target_indices.len() == fields)
            .map(|d| {
                if d.nullable {
                    Constraint::Unique(d.source_indices.clone())
                } else {
                    Constraint::PrimaryKey(d.source_indices.clone())
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_every_materialize_line_in_order() {
        let sql = "-- title: x\n-- materialize: Exceptions, count_evidence\nSELECT 1 -- no\n\
                   FROM (\n  -- MATERIALIZE: picks,\nSELECT 2)";
        assert_eq!(requested(sql), ["exceptions", "count_evidence", "picks"]);
        assert!(requested("-- materialized view\nSELECT 1").is_empty());
    }

    /// The tables `plan` reads, subqueries included, sorted.
    fn scans(plan: &LogicalPlan) -> Vec<String> {
        let mut out = Vec::new();
        plan.apply_with_subqueries(|n| {
            if let LogicalPlan::TableScan(t) = n {
                out.push(t.table_name.to_string());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        out.sort();
        out
    }

    /// A session with table `events` (k: 1, 1, 2, 3, 3, 3).
    fn events() -> SessionContext {
        use datafusion::arrow::array::{Int64Array, RecordBatch};
        use datafusion::arrow::datatypes::DataType;
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let keys = Int64Array::from(vec![1, 1, 2, 3, 3, 3]);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(keys)]).unwrap();
        let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table("events", Arc::new(table)).unwrap();
        ctx
    }

    /// `plan`'s integer columns, row by row.
    async fn rows(ctx: &SessionContext, plan: LogicalPlan) -> Vec<Vec<i64>> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |i| {
                    b.columns()
                        .iter()
                        .map(|c| c.as_primitive::<Int64Type>().value(i))
                        .collect()
                })
            })
            .collect()
    }

    #[tokio::test]
    async fn a_cte_read_twice_is_computed_once_with_the_same_answer() {
        let ctx = events();
        let sql = "WITH e AS (SELECT k, count(*) AS c FROM events GROUP BY k)\n\
                   SELECT x.k, x.c * y.c AS sq FROM e x JOIN e y ON x.k = y.k ORDER BY x.k";
        let plan = ctx.sql(sql).await.unwrap().into_unoptimized_plan();
        assert_eq!(scans(&plan), ["events", "events"]);
        let once = apply(&ctx, plan, &["e".into()]).await.unwrap();
        // Both references now read the kept result; the source is read by neither.
        assert_eq!(scans(&once), ["e", "e"]);
        // Counts 2, 1, 3 of keys 1, 2, 3, squared.
        assert_eq!(rows(&ctx, once).await, [[1, 4], [2, 1], [3, 9]]);
    }

    /// A GROUP BY over a join of a kept CTE: what DataFusion inferred from the CTE's
    /// key when it planned the query still holds for the kept table. Key 1 is in two
    /// rows of `events` (so the join gives it two rows in `av`, one per count), 2 in
    /// one, 3 in three: grouped by key again, one row per key.
    #[tokio::test]
    async fn a_group_by_over_a_join_of_a_kept_cte_keeps_its_groups() {
        let ctx = events();
        let sql = "WITH e AS (SELECT k, max(k) AS m FROM events GROUP BY k),\n\
                   av AS (SELECT e.k, e.m, x.k * 10 + v.n AS d, count(*) AS c\n\
                          FROM e JOIN events x ON x.k = e.k\n\
                          CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2) v\n\
                          GROUP BY 1, 2, 3)\n\
                   SELECT k, count(*) AS days, min(c) AS least FROM av GROUP BY k ORDER BY k";
        let plain = ctx.sql(sql).await.unwrap().into_unoptimized_plan();
        let want = rows(&ctx, plain.clone()).await;
        // Per key: the days 10k + 1 and 10k + 2, each with as many rows as the key has.
        assert_eq!(want, [[1, 2, 2], [2, 2, 1], [3, 2, 3]]);
        let once = apply(&ctx, plain, &["e".into()]).await.unwrap();
        assert_eq!(rows(&ctx, once).await, want);
    }

    #[tokio::test]
    async fn a_cte_read_only_in_a_subquery_is_replaced_there() {
        let ctx = events();
        // Keys seen more than once: e is read in the EXISTS and nowhere else.
        let sql = "WITH e AS (SELECT k, count(*) AS c FROM events GROUP BY k)\n\
                   SELECT DISTINCT k FROM events o\n\
                   WHERE EXISTS (SELECT 1 FROM e WHERE e.k = o.k AND e.c > 1) ORDER BY k";
        let plan = ctx.sql(sql).await.unwrap().into_unoptimized_plan();
        assert_eq!(scans(&plan), ["events", "events"]);
        let once = apply(&ctx, plan, &["e".into()]).await.unwrap();
        assert_eq!(scans(&once), ["e", "events"]);
        assert_eq!(rows(&ctx, once).await, [[1], [3]]);
    }
}
