//! Labels: per-resource routes, `/tools/labels`, `Labels` in resource JSON, and `/tools/find`
//! with `Labels` / `LabelsConstraint`. Runs on both index backends (`STOWAGE_TEST_INDEX`).

mod common;

use std::collections::BTreeSet;

use common::{burst_instance, set_of, Server};
use serde_json::json;

#[test]
fn labels_routes_and_find() {
    let srv = Server::start(json!({}));
    let samples: Vec<_> = (0..4).map(burst_instance).collect();
    for s in &samples {
        srv.upload(&s.bytes);
    }
    let studies: Vec<String> = samples
        .iter()
        .map(|s| s.study_id())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        studies.len() >= 2,
        "the burst corpus spreads over several studies"
    );
    let (a, b) = (&studies[0], &studies[1]);

    for (study, label) in [(a, "red"), (a, "blue"), (b, "blue")] {
        let r = srv.request(
            "PUT",
            &format!("/studies/{study}/labels/{label}"),
            Some(b""),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Idempotent.
    assert_eq!(
        srv.request("PUT", &format!("/studies/{a}/labels/red"), Some(b""))
            .status,
        200
    );

    assert_eq!(
        srv.get_json(&format!("/studies/{a}/labels")),
        json!(["blue", "red"])
    );
    assert_eq!(
        srv.get_json(&format!("/studies/{a}"))["Labels"],
        json!(["blue", "red"])
    );
    assert_eq!(srv.get_json("/tools/labels"), json!(["blue", "red"]));
    assert_eq!(srv.get(&format!("/studies/{b}/labels/red")).status, 404);
    assert_eq!(srv.get(&format!("/studies/{b}/labels/blue")).status, 200);

    let find = |labels: serde_json::Value, constraint: &str| {
        let r = srv.post_json(
            "/tools/find",
            &json!({"Level": "Study", "Query": {}, "Labels": labels, "LabelsConstraint": constraint}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        set_of(&r.json())
    };
    let all: BTreeSet<String> = studies.iter().cloned().collect();
    let only = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(find(json!(["red", "blue"]), "All"), only(&[a]));
    assert_eq!(find(json!(["blue"]), "All"), only(&[a, b]));
    assert_eq!(find(json!(["red", "green"]), "Any"), only(&[a]));
    let none: BTreeSet<String> = all.iter().filter(|s| *s != a && *s != b).cloned().collect();
    assert_eq!(find(json!(["blue"]), "None"), none);

    // Invalid labels and unknown resources.
    assert_eq!(
        srv.request(
            "PUT",
            &format!("/studies/{a}/labels/bad%20label"),
            Some(b"")
        )
        .status,
        400
    );
    let bad_find = srv.post_json(
        "/tools/find",
        &json!({"Level": "Study", "Query": {}, "Labels": ["no way"]}),
    );
    assert_eq!(bad_find.status, 400);
    assert_eq!(
        srv.request("PUT", "/studies/nonexistent/labels/red", Some(b""))
            .status,
        404
    );

    // Removal, and labels vanish with their resource.
    assert_eq!(
        srv.request("DELETE", &format!("/studies/{a}/labels/red"), None)
            .status,
        200
    );
    assert_eq!(
        srv.get_json(&format!("/studies/{a}/labels")),
        json!(["blue"])
    );
    assert_eq!(srv.delete(&format!("/studies/{b}")).status, 200);
    assert_eq!(srv.delete(&format!("/studies/{a}")).status, 200);
    assert_eq!(srv.get_json("/tools/labels"), json!([]));
}
