//! Global properties, kept per server identifier.

use crate::{IndexBackend, TxMode};

use super::helpers::*;

/// Global properties are kept per server identifier and per property, and can be overwritten.
pub fn global_properties_per_server(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(
        tx.set_global_property("", 5001, "default"),
        "set_global_property",
    );
    ok(
        tx.set_global_property("server-a", 5001, "a"),
        "set_global_property",
    );
    ok(
        tx.set_global_property("server-b", 5001, "b"),
        "set_global_property",
    );
    ok(
        tx.set_global_property("server-a", 5002, "a2 ✓"),
        "set_global_property",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let get = |tx: &mut Tx<'_>, server: &str, p| {
        ok(
            tx.lookup_global_property(server, p),
            "lookup_global_property",
        )
    };
    assert_eq!(get(&mut tx, "", 5001).as_deref(), Some("default"));
    assert_eq!(get(&mut tx, "server-a", 5001).as_deref(), Some("a"));
    assert_eq!(get(&mut tx, "server-b", 5001).as_deref(), Some("b"));
    assert_eq!(get(&mut tx, "server-a", 5002).as_deref(), Some("a2 ✓"));
    assert_eq!(
        get(&mut tx, "server-b", 5002),
        None,
        "properties are per server"
    );
    assert_eq!(get(&mut tx, "server-c", 5001), None);
    assert_eq!(get(&mut tx, "", 5003), None);
    ok(
        tx.set_global_property("server-a", 5001, "a-updated"),
        "set_global_property",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(get(&mut tx, "server-a", 5001).as_deref(), Some("a-updated"));
    assert_eq!(
        get(&mut tx, "server-b", 5001).as_deref(),
        Some("b"),
        "overwriting one server's value only"
    );
    assert_eq!(get(&mut tx, "", 5001).as_deref(), Some("default"));
    commit(tx);
}
