//! `report`: a side-by-side Markdown table from the JSON lines of other runs.

use serde_json::Value;
use std::collections::HashMap;

pub fn run(files: &[String]) -> Result<(), String> {
    let mut labels: Vec<String> = Vec::new();
    let mut metrics: Vec<String> = Vec::new();
    let mut cells: HashMap<(String, String), String> = HashMap::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let label = v["label"].as_str().unwrap_or("?").to_string();
            if !labels.contains(&label) {
                labels.push(label.clone());
            }
            for row in v["table"].as_array().into_iter().flatten() {
                let (Some(k), Some(val)) = (row[0].as_str(), row[1].as_str()) else {
                    continue;
                };
                if !metrics.iter().any(|m| m == k) {
                    metrics.push(k.to_string());
                }
                cells.insert((k.to_string(), label.clone()), val.to_string());
            }
        }
    }
    let ratio = labels.len() == 2;
    let mut head = format!("| metric | {} |", labels.join(" | "));
    let mut sep = format!("|---|{}", "---|".repeat(labels.len()));
    if ratio {
        head.push_str(&format!(" {} / {} |", labels[0], labels[1]));
        sep.push_str("---|");
    }
    println!("{head}\n{sep}");
    let first_num = |s: &str| -> Option<f64> {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
    };
    for m in &metrics {
        let vals: Vec<String> = labels
            .iter()
            .map(|l| {
                cells
                    .get(&(m.clone(), l.clone()))
                    .cloned()
                    .unwrap_or_else(|| "–".into())
            })
            .collect();
        let mut line = format!("| {} | {} |", m.replace('|', "\\|"), vals.join(" | "));
        if ratio {
            let r = match (first_num(&vals[0]), first_num(&vals[1])) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "–".into(),
            };
            line.push_str(&format!(" {r} |"));
        }
        println!("{line}");
    }
    Ok(())
}
