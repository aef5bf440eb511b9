//! `bench render`: turns a directory of JSON reports (one per run, as
//! `bench/compare.sh` writes them) into `docs/benchmarks.md` with a table
//! per scenario, Herald/RabbitMQ ratios and SVG latency charts.
//!
//! Runs of the same scenario, case and broker are rounds; one round stands
//! for them (see [`median`]), so a row never mixes figures of two runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::chart::{self, Percentile, Series};
use super::report::Report;
use super::BenchError;

#[derive(Args, Debug)]
pub struct Options {
    /// Directory of JSON reports (`bench ... --json` output), read in name order.
    #[arg(long)]
    results: PathBuf,
    /// The Markdown file to write; charts go to a folder beside it.
    #[arg(long)]
    output: PathBuf,
    /// Markdown to put first (machine, load, versions, commands).
    #[arg(long)]
    header: Option<PathBuf>,
    /// Markdown to put last (notes, profile).
    #[arg(long)]
    footer: Option<PathBuf>,
}

/// Reports grouped as scenario -> case -> broker -> rounds, in first-seen order.
type Grouped = Vec<(String, Vec<(String, BTreeMap<String, Vec<Report>>)>)>;

pub fn run(options: Options) -> Result<(), BenchError> {
    let reports = load(&options.results)?;
    let grouped = group(reports);
    let chart_dir_name = options.output.file_stem().map_or_else(
        || "benchmarks".into(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let chart_dir = options
        .output
        .parent()
        .unwrap_or(Path::new("."))
        .join(&chart_dir_name);
    std::fs::create_dir_all(&chart_dir)?;
    let mut page = String::new();
    if let Some(header) = &options.header {
        page.push_str(&std::fs::read_to_string(header)?);
        page.push('\n');
    }
    for (scenario, cases) in &grouped {
        let _ = writeln!(page, "## {scenario}\n");
        if scenario == "connections" {
            connections_table(&mut page, cases);
        } else {
            figures_table(&mut page, scenario, cases);
            ratios_table(&mut page, cases);
            let series = latency_series(cases);
            if series.iter().any(|line| line.points.len() > 1) {
                let file = format!("{scenario}-latency.svg");
                let title = format!("{scenario}: latency against offered rate (log-log)");
                match chart::latency_chart(&chart_dir.join(&file), &title, &series) {
                    Ok(()) => {
                        let _ = writeln!(page, "![{scenario} latency]({chart_dir_name}/{file})\n");
                    }
                    Err(error) => eprintln!("herald bench render: {error}"),
                }
            }
        }
        commands(&mut page, cases);
    }
    if let Some(footer) = &options.footer {
        page.push_str(&std::fs::read_to_string(footer)?);
    }
    std::fs::write(&options.output, page)?;
    Ok(())
}

fn load(directory: &Path) -> Result<Vec<Report>, BenchError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(directory)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut reports = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        match serde_json::from_str::<Report>(&text) {
            Ok(report) => reports.push(report),
            Err(error) => eprintln!("herald bench render: skipping {}: {error}", path.display()),
        }
    }
    Ok(reports)
}

fn group(reports: Vec<Report>) -> Grouped {
    let mut grouped: Grouped = Vec::new();
    for report in reports {
        let scenario = match grouped
            .iter_mut()
            .position(|(name, _)| *name == report.scenario)
        {
            Some(at) => &mut grouped[at].1,
            None => {
                grouped.push((report.scenario.clone(), Vec::new()));
                &mut grouped.last_mut().expect("just pushed").1
            }
        };
        let case = match scenario
            .iter_mut()
            .position(|(name, _)| *name == report.case)
        {
            Some(at) => &mut scenario[at].1,
            None => {
                scenario.push((report.case.clone(), BTreeMap::new()));
                &mut scenario.last_mut().expect("just pushed").1
            }
        };
        case.entry(report.label.clone()).or_default().push(report);
    }
    grouped
}

/// The round that stands for a case: the median one by the case's own
/// measure, and of two rounds the worse. The measure is p99 at a fixed
/// rate, throughput flat out and memory per connection for `connections`.
fn median(rounds: &[Report]) -> &Report {
    let goodness = |report: &Report| {
        if let Some(memory) = &report.memory {
            return -memory.per_connection_vm_rss;
        }
        let fixed_rate = report
            .settings
            .get("rate")
            .is_some_and(|rate| !rate.is_null());
        match (&report.messages, &report.latency_us) {
            (_, Some(latency)) if fixed_rate => -latency.p99,
            (Some(messages), _) => messages.per_s,
            _ => 0.0,
        }
    };
    let mut order: Vec<&Report> = rounds.iter().collect();
    order.sort_by(|a, b| goodness(a).total_cmp(&goodness(b)));
    order[(order.len() - 1) / 2]
}

/// Where a case sits on a chart's load axis: its offered rate. Flat-out
/// cases have none and stay off the charts (their latency is the window's
/// queueing, not a response to load).
fn offered_load(report: &Report) -> Option<f64> {
    report.settings.get("rate").and_then(|rate| rate.as_f64())
}

fn display(label: &str) -> &str {
    match label {
        "herald" => "Herald",
        "rabbitmq" => "RabbitMQ",
        "echo" => "echo (WebSocket ceiling)",
        other => other,
    }
}

fn connections_table(page: &mut String, cases: &[(String, BTreeMap<String, Vec<Report>>)]) {
    page.push_str("| case | broker | opened / asked | failed | dropped | connect/s | broker VmRSS before -> held | per connection VmRSS | per connection Pss | probes lost | broker CPU s | generator CPU s |\n");
    page.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64);
    let mut ratios = Vec::new();
    for (case, brokers) in cases {
        for (label, rounds) in brokers {
            let report = median(rounds);
            let Some(c) = &report.connections else {
                continue;
            };
            let (memory, per_rss, per_pss) = match &report.memory {
                Some(m) => (
                    format!("{} -> {}", mib(m.before.vm_rss), mib(m.held.vm_rss)),
                    format!("{:.1} KiB", m.per_connection_vm_rss / 1024.0),
                    format!("{:.1} KiB", m.per_connection_pss / 1024.0),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let lost = report.messages.as_ref().map_or(0, |m| m.lost);
            let _ = writeln!(
                page,
                "| {case} | {} | {} / {} | {} | {} | {:.0} | {memory} | {per_rss} | {per_pss} | {lost} | {} | {:.2} |",
                display(label),
                c.opened,
                c.requested,
                c.failed,
                c.dropped,
                c.per_s,
                report.cpu.broker_s.map_or("-".into(), |s| format!("{s:.2}")),
                report.cpu.generator_s,
            );
        }
        let per = |label: &str| {
            brokers.get(label).and_then(|rounds| {
                median(rounds)
                    .memory
                    .as_ref()
                    .map(|m| m.per_connection_vm_rss)
            })
        };
        if let (Some(herald), Some(rabbit)) = (per("herald"), per("rabbitmq")) {
            ratios.push(format!(
                "- {case}: Herald uses {:.2}x RabbitMQ's memory per connection ({:.1} KiB vs {:.1} KiB VmRSS)",
                herald / rabbit.max(1.0),
                herald / 1024.0,
                rabbit / 1024.0
            ));
        }
    }
    page.push('\n');
    for line in ratios {
        let _ = writeln!(page, "{line}");
    }
    page.push('\n');
}

fn figures_table(
    page: &mut String,
    scenario: &str,
    cases: &[(String, BTreeMap<String, Vec<Report>>)],
) {
    let unit = match scenario {
        "durable" => "receipts/s",
        "fanout" => "deliveries/s",
        _ => "msgs/s",
    };
    let _ = writeln!(page, "| case | broker | {unit} | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | sent | lost | dup | broker cores | generator cores | rounds |");
    page.push_str(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (case, brokers) in cases {
        for label in ordered(brokers) {
            let rounds = &brokers[label];
            let report = median(rounds);
            let (Some(m), Some(l)) = (&report.messages, &report.latency_us) else {
                continue;
            };
            let ms = |us: f64| format!("{:.3}", us / 1000.0);
            let lost: u64 = rounds
                .iter()
                .filter_map(|r| r.messages.as_ref())
                .map(|m| m.lost)
                .sum();
            let dup: u64 = rounds
                .iter()
                .filter_map(|r| r.messages.as_ref())
                .map(|m| m.duplicates)
                .sum();
            let _ = writeln!(
                page,
                "| {case} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {lost} | {dup} | {} | {:.2} | {} |",
                display(label),
                m.per_s,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                m.sent,
                report.cpu.broker_cores.map_or("-".into(), |c| format!("{c:.2}")),
                report.cpu.generator_cores,
                rounds.len(),
            );
        }
    }
    page.push_str(
        "\nlost and dup add up every round; the other figures are one round's: the median, \
         and of two rounds the worse (higher p99 at a fixed rate, lower throughput flat out).\n\n",
    );
}

/// Herald first, then RabbitMQ, then the rest.
fn ordered(brokers: &BTreeMap<String, Vec<Report>>) -> Vec<&String> {
    let rank = |label: &str| match label {
        "herald" => 0,
        "rabbitmq" => 1,
        _ => 2,
    };
    let mut labels: Vec<&String> = brokers.keys().collect();
    labels.sort_by_key(|label| (rank(label), label.to_string()));
    labels
}

fn ratios_table(page: &mut String, cases: &[(String, BTreeMap<String, Vec<Report>>)]) {
    page.push_str("| case | throughput Herald / RabbitMQ | p99 Herald / RabbitMQ | throughput Herald / echo |\n");
    page.push_str("| --- | --- | --- | --- |\n");
    for (case, brokers) in cases {
        let figure = |label: &str, pick: fn(&Report) -> Option<f64>| {
            brokers.get(label).and_then(|rounds| pick(median(rounds)))
        };
        let rate = |report: &Report| report.messages.as_ref().map(|m| m.per_s);
        let p99 = |report: &Report| report.latency_us.as_ref().map(|l| l.p99);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            page,
            "| {case} | {} | {} | {} |",
            ratio(figure("herald", rate), figure("rabbitmq", rate)),
            ratio(figure("herald", p99), figure("rabbitmq", p99)),
            ratio(figure("herald", rate), figure("echo", rate)),
        );
    }
    page.push_str("\nA throughput ratio above 1 and a p99 ratio below 1 favour Herald. At a fixed `--rate` both brokers should deliver the rate, so latency is the figure that differs.\n\n");
}

fn latency_series(cases: &[(String, BTreeMap<String, Vec<Report>>)]) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for (_, brokers) in cases {
        for (label, rounds) in brokers {
            let report = median(rounds);
            let (Some(m), Some(l)) = (&report.messages, &report.latency_us) else {
                continue;
            };
            for (percentile, value) in [
                (Percentile::P50, l.p50),
                (Percentile::P99, l.p99),
                (Percentile::P999, l.p999),
            ] {
                let Some(x) = offered_load(report).filter(|x| *x > 0.0) else {
                    continue;
                };
                if m.per_s <= 0.0 || value <= 0.0 {
                    continue;
                }
                let point = (x, value / 1000.0);
                match series
                    .iter_mut()
                    .find(|s| s.broker == *label && s.percentile == percentile)
                {
                    Some(line) => line.points.push(point),
                    None => series.push(Series {
                        broker: label.clone(),
                        percentile,
                        points: vec![point],
                    }),
                }
            }
        }
    }
    for line in &mut series {
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    series
}

fn commands(page: &mut String, cases: &[(String, BTreeMap<String, Vec<Report>>)]) {
    page.push_str("<details><summary>exact commands</summary>\n\n```sh\n");
    for (_, brokers) in cases {
        for label in ordered(brokers) {
            if let Some(report) = brokers[label].first() {
                let _ = writeln!(page, "{}", without_binary_path(&report.command));
            }
        }
    }
    page.push_str("```\n\n</details>\n\n");
}

/// `/some/path/herald bench ...` as `herald bench ...`.
fn without_binary_path(command: &str) -> String {
    match command.split_once(' ') {
        Some((binary, rest)) if binary.ends_with("/herald") => format!("herald {rest}"),
        _ => command.to_owned(),
    }
}
