//! This server live (`GET /api/v1/servers/{id}/runtime`, also under `/rentals/`) and the
//! rental marketplace's routes as a self-hosted server answers them: empty lists, and renting
//! or reserving refused with the documented error shape. As root.
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::json;

#[test]
fn the_server_live_and_no_marketplace() {
    let d = Daemon::new();
    let sid = d.server_id();
    let name = d.api("GET", "/api/v1/servers", None, 200)["servers"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        format!("/api/v1/servers/{sid}/runtime"),
        format!("/api/v1/rentals/{name}/runtime/"),
    ] {
        let r = d.api("GET", &path, None, 200);
        assert_eq!(r["server_id"], sid.as_str(), "{r}");
        assert!(r["uptime_seconds"].as_u64().unwrap() > 0, "{r}");
        assert!(r["memory"]["total"].as_u64().unwrap() > r["memory"]["used"].as_u64().unwrap());
        assert!(r["disk"]["total"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["containers"], json!({"total": 0, "running": 0}));
        assert_eq!(r["load_average"].as_array().unwrap().len(), 3);
    }
    let (st, v) = d.try_api(
        "GET",
        "/api/v1/servers/000000000000000000000000/runtime",
        None,
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (404, Some("SERVER_NOT_FOUND")),
        "{v}"
    );

    for (path, key) in [
        ("/api/v1/offers", "offers"),
        ("/api/v1/reservations/", "reservations"),
        ("/api/v1/servers/available", "servers"),
    ] {
        let l = d.api("GET", path, None, 200);
        assert_eq!(
            (&l[key], &l["pagination"]["total"]),
            (&json!([]), &json!(0)),
            "{path}: {l}"
        );
    }
    for (method, path, code, status) in [
        (
            "POST",
            format!("/api/v1/servers/{sid}/rent"),
            "SERVER_NOT_RENTABLE",
            409,
        ),
        (
            "POST",
            "/api/v1/offers/o1/reserve".to_string(),
            "OFFER_NOT_FOUND",
            404,
        ),
        (
            "GET",
            "/api/v1/reservations/r1".to_string(),
            "RESERVATION_NOT_FOUND",
            404,
        ),
    ] {
        let (st, v) = d.try_api(method, &path, Some("{}"));
        assert_eq!(
            (st, v["error"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().contains("self-hosted"),
            "{v}"
        );
    }

    // The CLI, in Hoody's spelling (`servers marketplace|rent`, and `runtime`).
    let live: serde_json::Value =
        serde_json::from_str(&d.hoody(&["servers", "runtime", &sid])).unwrap();
    assert_eq!(live["server_id"], sid.as_str());
    let market: serde_json::Value = serde_json::from_str(&d.hoody(&["servers", "browse"])).unwrap();
    assert_eq!(market["servers"], json!([]));
    let out = d.hoody_out(&["servers", "rent", &sid]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("self-hosted"),
        "{out:?}"
    );
}
