"""The v1 paging envelope: meta URLs that walk a list forwards and back, keyset pages, bad tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

META_FIELDS = ["page", "page_size", "first_page_url", "previous_page_url", "url", "next_page_url", "key"]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_walk_forward_and_back(api):
    keys = [f"k{n}" for n in range(5)]
    for key in keys:
        assert api.post("/v1/Configs", data={"Key": key, "Value": "v"}).status_code == 201
    first = api.get("/v1/Configs", params={"PageSize": 2}).json()
    meta = first["meta"]
    assert list(meta) == META_FIELDS
    assert meta["page"] == 0 and meta["page_size"] == 2 and meta["key"] == "configs"
    assert meta["previous_page_url"] is None
    assert meta["url"] == meta["first_page_url"] == "http://mv.test/v1/Configs?PageSize=2&Page=0"

    seen, pages, body = [], [], first
    while True:
        seen += [c["key"] for c in body["configs"]]
        pages.append(body)
        if body["meta"]["next_page_url"] is None:
            break
        body = api.get(_path(body["meta"]["next_page_url"])).json()
    assert seen == keys and [p["meta"]["page"] for p in pages] == [0, 1, 2]
    assert parse_qs(urlsplit(pages[1]["meta"]["next_page_url"]).query)["PageToken"][0].startswith("PA")

    back = api.get(_path(pages[2]["meta"]["previous_page_url"])).json()
    assert [c["key"] for c in back["configs"]] == ["k2", "k3"] and back["meta"]["page"] == 1
    back = api.get(_path(back["meta"]["previous_page_url"])).json()
    assert [c["key"] for c in back["configs"]] == ["k0", "k1"] and back["meta"]["previous_page_url"] is None


def test_rows_added_while_walking_do_not_shift_pages(api):
    for n in range(3):
        api.post("/v1/Configs", data={"Key": f"a{n}", "Value": "v"})
    first = api.get("/v1/Configs", params={"PageSize": 2}).json()
    api.post("/v1/Configs", data={"Key": "late", "Value": "v"})
    second = api.get(_path(first["meta"]["next_page_url"])).json()
    assert [c["key"] for c in second["configs"]] == ["a2", "late"]


def test_offset_pages_and_bad_parameters(api):
    for n in range(3):
        api.post("/v1/Configs", data={"Key": f"o{n}", "Value": "v"})
    assert [c["key"] for c in api.get("/v1/Configs?PageSize=2&Page=1").json()["configs"]] == ["o2"]
    assert api.get("/v1/Configs", params={"PageToken": "XX1"}).status_code == 400
    assert api.get("/v1/Configs", params={"PageSize": 1001}).status_code == 400
    assert api.get("/v1/Configs", params={"Page": -1}).status_code == 400
    empty = api.get("/v1/Apps").json()
    assert empty["apps"] == [] and empty["meta"]["next_page_url"] is None
