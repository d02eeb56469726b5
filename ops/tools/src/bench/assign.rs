//! `invigil bench assign`: the proctor wall's rendezvous split — how long it
//! takes at exam scale, and how many candidates change proctor when one
//! proctor leaves, with and without room to spare.

use std::collections::HashMap;
use std::time::Instant;

use invigil_dashboards::assign::{assign, Assignment};

use super::median;

#[derive(clap::Args)]
pub struct Args {
    /// Timing rounds per size (the median is printed).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:06}")).collect()
}

fn owners(split: &Assignment) -> HashMap<&str, &str> {
    split.by_proctor.iter().flat_map(|(p, cs)| cs.iter().map(move |c| (c.as_str(), p.as_str()))).collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    println!("split time (median of {} rounds)", args.rounds);
    println!("{:>11} {:>9} {:>9} {:>12}", "candidates", "proctors", "capacity", "ms");
    for (candidates, proctors) in [(1_000, 20), (10_000, 200), (50_000, 1_000)] {
        let (c, p) = (ids("cand", candidates), ids("proctor", proctors));
        let capacity = (candidates / proctors + candidates / proctors / 4) as u32;
        let times: Vec<f64> = (0..args.rounds.max(1))
            .map(|_| {
                let started = Instant::now();
                let split = assign(c.iter().map(String::as_str), &p, capacity);
                std::hint::black_box(&split);
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!("{candidates:>11} {proctors:>9} {capacity:>9} {:>12.1}", median(times));
    }

    println!();
    println!("candidates moved when one proctor leaves (mean and worst over every proctor leaving; 1/n is the ideal)");
    println!(
        "{:>11} {:>9} {:>22} {:>10} {:>10} {:>8}",
        "candidates", "proctors", "seats left after", "mean", "worst", "1/n"
    );
    let (candidates, proctors) = (600usize, 12usize);
    let c = ids("cand", candidates);
    let p = ids("proctor", proctors);
    for headroom in [0.0, 0.1, 0.25, f64::INFINITY] {
        // Seats among the n-1 who stay = candidates × (1 + headroom).
        let capacity = if headroom.is_finite() {
            ((candidates as f64 * (1.0 + headroom)) / (proctors - 1) as f64).ceil() as u32
        } else {
            candidates as u32
        };
        let before = assign(c.iter().map(String::as_str), &p, capacity);
        let before_owners = owners(&before);
        let mut moved = Vec::new();
        for leaver in &p {
            let rest: Vec<String> = p.iter().filter(|x| *x != leaver).cloned().collect();
            let after = assign(c.iter().map(String::as_str), &rest, capacity);
            let after_owners = owners(&after);
            moved.push(before_owners.iter().filter(|(cand, owner)| after_owners.get(*cand) != Some(*owner)).count());
        }
        let mean = moved.iter().sum::<usize>() as f64 / moved.len() as f64 / candidates as f64;
        let worst = *moved.iter().max().unwrap_or(&0) as f64 / candidates as f64;
        let label = if headroom.is_finite() {
            format!("+{:.0} % (cap {capacity})", headroom * 100.0)
        } else {
            "unbounded".into()
        };
        println!(
            "{candidates:>11} {proctors:>9} {label:>22} {:>9.1}% {:>9.1}% {:>7.1}%",
            mean * 100.0,
            worst * 100.0,
            100.0 / proctors as f64
        );
    }
    Ok(())
}
