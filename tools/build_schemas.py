"""Build ``schemas/<register>.json`` from the GOV.UK catalogue, RSF system entries and TSV headers.

Run from the project root with ../shared beside it: ``python tools/build_schemas.py``. The
output is committed; the product reads only ``schemas/``. Needs PyYAML (the ``dev`` extra).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CATALOGUE = DATA / "catalogue"
OUT = ROOT / "schemas"

FROM_CATALOGUE = [
    "country",
    "territory",
    "local-authority-type",
    "local-authority-eng",
    "local-authority-sct",
    "local-authority-nir",
    "principal-local-authority",
    "government-organisation",
    "registration-district",
    "register",
    "field",
    "datatype",
]

DATATYPE_TEXT = {  # the rules of ../shared/REGISTERS-V1.md, for datatypes the catalogue does not describe
    "integer": "A whole number: 0, or an optional minus sign and digits not starting with 0.",
    "timestamp": "A moment in UTC, exactly YYYY-MM-DDThh:mm:ssZ.",
    "name": "A letter, then letters, digits or hyphens.",
    "hash": "sha-256: and 64 lower-case hexadecimal digits.",
    "point": "A place as [longitude, latitude] in decimal degrees.",
}


def catalogue_field(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((CATALOGUE / "field" / f"{name}.yaml").read_text())
    return {k: str(v) for k, v in doc.items() if v not in ("", None)}


def field(name: str, datatype: str = "string", text: str = "", register: str | None = None) -> dict[str, Any]:
    out = {"cardinality": "1", "datatype": datatype, "field": name, "phase": "beta"}
    if register:
        out["register"] = register
    if text:
        out["text"] = text
    return out


def known_field(name: str) -> dict[str, Any]:
    path = CATALOGUE / "field" / f"{name}.yaml"
    return catalogue_field(name) if path.exists() else field(name)


def from_catalogue(register: str) -> dict[str, Any]:
    doc = yaml.safe_load((CATALOGUE / "register" / f"{register}.yaml").read_text())
    reg = {k: doc[k] for k in ("fields", "phase", "register", "registry", "text") if k in doc}
    return {"register": reg, "fields": [known_field(name) for name in reg["fields"]]}


def from_rsf(file: str, register: str) -> dict[str, Any]:
    items = {}
    for line in (DATA / "rsf" / file).read_text().splitlines():
        if line.startswith("add-item\t"):
            item = json.loads(line.split("\t", 1)[1])
            if "field" in item and "datatype" in item:
                items[item["field"]] = item
            elif item.get("register") == register and "fields" in item:
                reg = item
    return {"register": reg, "fields": [items[name] for name in reg["fields"]]}


def tsv_header(file: str) -> list[str]:
    return (DATA / "tsv" / file).read_text().splitlines()[0].split("\t")


def extra_schemas() -> dict[str, dict[str, Any]]:
    uk_fields = tsv_header("uk.tsv")
    uk = {
        "register": {"fields": uk_fields, "phase": "beta", "register": "uk", "registry": "cabinet-office",
                     "text": "The countries and nations that make up the United Kingdom"},
        "fields": [field("uk", text="The code for a country or nation of the UK.", register="uk")]
        + [known_field(n) for n in uk_fields[1:]],
    }
    wpc = "westminster-parliamentary-constituency"
    wpc_fields = tsv_header(f"{wpc}.tsv")
    constituency = {
        "register": {
            "fields": wpc_fields, "phase": "beta", "register": wpc, "registry": "office-for-national-statistics",
            "text": "Westminster parliamentary constituencies, with their history since 1918",
        },
        "fields": [field(wpc, text="The code of a Westminster parliamentary constituency.", register=wpc)]
        + [known_field(n) for n in wpc_fields[1:]],
    }
    sic = from_rsf("industrial-classification.rsf", "industrial-classification")
    for f in sic["fields"]:
        if f["field"] == "parent-industrial-classification":
            f["register"] = "industrial-classification"  # the parent is a record of the same register
    school = from_rsf("school-2017.rsf", "school")
    address_fields = ["address", "name", "street", "locality", "town", "postcode", "point", "local-authority",
                      "start-date", "end-date"]
    address = {
        "register": {"fields": address_fields, "phase": "alpha", "register": "address",
                     "registry": "ministry-of-housing-communities-and-local-government",
                     "text": "Addresses in the UK, by unique property reference number (UPRN)"},
        "fields": [
            field("address", text="The unique property reference number (UPRN) of an address.", register="address"),
            field("name", text="The address as written on one line, for example 'Flat 3, 27 Acacia Avenue'."),
            field("street", text="The street name."),
            field("locality", text="The locality or village, where there is one."),
            field("town", text="The post town."),
            field("postcode", text="The postcode, for example 'SW1A 2AA'."),
            field("point", "point", "Where the address is, as [longitude, latitude] (WGS 84)."),
            field("local-authority", "curie",
                  "The local authority, as a CURIE naming its register, for example 'local-authority-eng:WSM'."),
            known_field("start-date"),
            known_field("end-date"),
        ],
    }
    return {"uk": uk, wpc: constituency, "industrial-classification": sic, "school": school, "address": address}


TITLES = {
    "address": "Addresses",
    "country": "Country register",
    "government-organisation": "Government organisations",
    "industrial-classification": "Standard Industrial Classification",
    "local-authority-eng": "Local authorities in England",
    "local-authority-nir": "Local authorities in Northern Ireland",
    "local-authority-sct": "Local authorities in Scotland",
    "local-authority-type": "Local authority types",
    "principal-local-authority": "Principal local authorities in Wales",
    "registration-district": "Registration districts in England and Wales",
    "school": "Schools",
    "territory": "Territories",
    "uk": "Countries and nations of the UK",
    "westminster-parliamentary-constituency": "Westminster parliamentary constituencies",
    "register": "Registers",
    "field": "Fields",
    "datatype": "Datatypes",
}


def write_jsonl(name: str, rows: list[dict[str, Any]]) -> None:
    OUT.parent.joinpath("fixtures", "meta").mkdir(parents=True, exist_ok=True)
    path = OUT.parent / "fixtures" / "meta" / f"{name}.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))
    print(f"fixtures/meta/{name}.jsonl: {len(rows)} rows")


def meta_fixtures(schemas: dict[str, dict[str, Any]]) -> None:
    """The register, field and datatype registers' rows: what the shipped schemas define."""
    write_jsonl("register", [doc["register"] for _, doc in sorted(schemas.items())])
    fields: dict[str, dict[str, Any]] = {}
    for _, doc in sorted(schemas.items()):
        for f in doc["fields"]:
            in_catalogue = (CATALOGUE / "field" / f"{f['field']}.yaml").exists()
            fields.setdefault(f["field"], known_field(f["field"]) if in_catalogue else f)
    write_jsonl("field", [fields[name] for name in sorted(fields)])
    datatypes = []
    names = ["curie", "datetime", "hash", "integer", "name", "period", "point", "string", "text", "timestamp", "url"]
    for name in names:
        path = CATALOGUE / "datatype" / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text()) if path.exists() else {"text": DATATYPE_TEXT[name]}
        text = " ".join(str(doc["text"]).split())
        datatypes.append({"datatype": name, "phase": str(doc.get("phase", "beta")), "text": text})
    write_jsonl("datatype", datatypes)


def main() -> None:
    schemas = {name: from_catalogue(name) for name in FROM_CATALOGUE}
    schemas.update(extra_schemas())
    for name, doc in schemas.items():
        doc["register-name"] = TITLES[name]
    meta_fixtures(schemas)
    OUT.mkdir(exist_ok=True)
    for name, doc in sorted(schemas.items()):
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"schemas/{name}.json: {len(doc['fields'])} fields")


if __name__ == "__main__":
    main()
