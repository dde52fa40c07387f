//! `/metrics` in the Prometheus text exposition format (version 0.0.4), rendered from the
//! jobs' status on each scrape: no second set of counters to keep in step.

use std::fmt::Write;

use crate::control::api::JobView;

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    name: &'a str,
    help: &'a str,
    kind: &'a str,
}

/// Renders every metric.
pub fn render(jobs: &[JobView], uptime_seconds: f64) -> String {
    let mut out = String::new();
    let mut family = |f: Family<'_>, value: &dyn Fn(&JobView) -> f64| {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for j in jobs {
            let _ = writeln!(out, "{}{{job=\"{}\"}} {}", f.name, label(&j.name), value(j));
        }
    };
    family(
        Family {
            name: "ferry_objects_copied_total",
            help: "Objects copied to the target since ferryd started.",
            kind: "counter",
        },
        &|j| j.copied_total as f64,
    );
    family(
        Family {
            name: "ferry_bytes_copied_total",
            help: "Bytes copied to the target since ferryd started.",
            kind: "counter",
        },
        &|j| j.bytes_total as f64,
    );
    family(
        Family {
            name: "ferry_objects_deleted_total",
            help: "Objects deleted at the target since ferryd started.",
            kind: "counter",
        },
        &|j| j.deleted_total as f64,
    );
    family(
        Family {
            name: "ferry_errors_total",
            help: "Failed objects and failed runs since ferryd started.",
            kind: "counter",
        },
        &|j| j.errors_total as f64,
    );
    family(
        Family {
            name: "ferry_runs_total",
            help: "Runs (full scans and key syncs) since ferryd started.",
            kind: "counter",
        },
        &|j| (j.runs_full + j.runs_keys) as f64,
    );
    family(
        Family {
            name: "ferry_skipped_objects",
            help: "Source objects the job's include/exclude filters left out in its last full scan.",
            kind: "gauge",
        },
        &|j| j.skipped_last_scan as f64,
    );
    family(
        Family {
            name: "ferry_pending_objects",
            help: "Changed keys waiting for the next run.",
            kind: "gauge",
        },
        &|j| j.pending_keys as f64,
    );
    family(
        Family {
            name: "ferry_failed_objects",
            help: "Objects that failed in recent runs and are not yet through.",
            kind: "gauge",
        },
        &|j| j.failed.len() as f64,
    );
    family(
        Family {
            name: "ferry_objects_in_sync",
            help: "Objects at the source at the last complete scan.",
            kind: "gauge",
        },
        &|j| j.objects_in_sync as f64,
    );
    family(
        Family {
            name: "ferry_replication_lag_seconds",
            help: "Age of the oldest change not yet replicated (0 when in sync).",
            kind: "gauge",
        },
        &|j| j.lag_seconds,
    );
    family(
        Family {
            name: "ferry_last_run_duration_seconds",
            help: "Wall time of the job's last run.",
            kind: "gauge",
        },
        &|j| j.last_run.as_ref().map_or(0.0, |r| r.seconds),
    );
    family(
        Family {
            name: "ferry_last_success_timestamp_seconds",
            help: "End of the last run that left the job in sync (0: never).",
            kind: "gauge",
        },
        &|j| j.last_success_ms.map_or(0.0, |t| t as f64 / 1000.0),
    );
    family(
        Family {
            name: "ferry_job_paused",
            help: "1 when the job is paused.",
            kind: "gauge",
        },
        &|j| f64::from(u8::from(j.paused)),
    );
    let _ = writeln!(
        out,
        "# HELP ferryd_uptime_seconds Seconds since ferryd started."
    );
    let _ = writeln!(out, "# TYPE ferryd_uptime_seconds gauge");
    let _ = writeln!(out, "ferryd_uptime_seconds {uptime_seconds}");
    out
}

/// Counts per job and state (`ferry_backups`, `ferry_restores`): every state of `states` is
/// written for every job, zeros included, so that alerts see a series go to 0.
pub fn render_states(
    name: &str,
    help: &str,
    states: &[&str],
    counts: &[(String, Vec<&str>)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (job, seen) in counts {
        for st in states {
            let n = seen.iter().filter(|s| *s == st).count();
            let _ = writeln!(out, "{name}{{job=\"{}\",state=\"{st}\"}} {n}", label(job));
        }
    }
    out
}

/// One running restore: job, backup, restore id, progress in percent.
pub type Running = (String, String, String, u8);

/// `ferry_restore_progress`: each running restore's progress as its trigger reports it
/// (milvus-backup REST, a Zilliz Cloud job), by job, backup and restore id.
pub fn render_progress(running: &[Running]) -> String {
    let mut out = String::from(
        "# HELP ferry_restore_progress Progress of each running restore in percent, as its trigger reports it.\n# TYPE ferry_restore_progress gauge\n",
    );
    for (job, backup, id, progress) in running {
        let _ = writeln!(
            out,
            "ferry_restore_progress{{job=\"{}\",backup=\"{}\",id=\"{}\"}} {progress}",
            label(job),
            label(backup),
            label(id)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_counts_include_zeros() {
        let text = render_states(
            "ferry_backups",
            "Backups by state.",
            &["verified", "incomplete"],
            &[("a\"b".into(), vec!["verified", "verified"])],
        );
        assert!(
            text.contains("ferry_backups{job=\"a\\\"b\",state=\"verified\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ferry_backups{job=\"a\\\"b\",state=\"incomplete\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn text_format() {
        let j = JobView {
            name: "a\"b".into(),
            copied_total: 3,
            ..JobView::default()
        };
        let t = render(&[j], 1.5);
        assert!(
            t.contains("# TYPE ferry_objects_copied_total counter\n"),
            "{t}"
        );
        assert!(
            t.contains("ferry_objects_copied_total{job=\"a\\\"b\"} 3\n"),
            "{t}"
        );
        assert!(t.ends_with("ferryd_uptime_seconds 1.5\n"), "{t}");
    }
}
