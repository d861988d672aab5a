"""Static sanity checks of the addon's XML and CSV files, runnable without Odoo.

Checks: the manifest lists every data file and every listed file exists; XML is well-formed with an <odoo> root;
XML ids are unique and prefixed by kind (view_, action_, menu_, ir_cron_, rule_, group_); views use Odoo 18 syntax
(no <tree>, no attrs= or states=); ir.model.access.csv has the standard header, unique ids and models the addon
defines or depends on.
"""

import ast
import csv
import re
import sys
from pathlib import Path

from lxml import etree

ADDON = Path(__file__).resolve().parent.parent
DATA_DIRS = ("data", "demo", "security", "views", "wizards", "report")
ID_PREFIXES = {
    "ir.ui.view": ("view_",),
    "ir.actions.act_window": ("action_",),
    "ir.actions.server": ("action_",),
    "ir.cron": ("ir_cron_",),
    "ir.rule": ("rule_",),
    "res.groups": ("group_",),
}
ACCESS_HEADER = ["id", "name", "model_id:id", "group_id:id", "perm_read", "perm_write", "perm_create", "perm_unlink"]


def load_manifest():
    return ast.literal_eval((ADDON / "__manifest__.py").read_text())


def defined_models():
    names = set()
    for path in list(ADDON.glob("models/*.py")) + list(ADDON.glob("wizards/*.py")):
        # Abstract models (mixins) have no table and need no access rule.
        for block in re.split(r"^class ", path.read_text(), flags=re.M)[1:]:
            if "models.AbstractModel" not in block.split("\n", 1)[0]:
                names.update(re.findall(r'^\s+_name = "([\w.]+)"', block, re.M))
    return names


def check_manifest_files(manifest, problems):
    listed = set(manifest.get("data", [])) | set(manifest.get("demo", []))
    for name in sorted(listed):
        if not (ADDON / name).is_file():
            problems.append(f"__manifest__.py lists {name}, which does not exist")
    for folder in DATA_DIRS:
        for path in sorted((ADDON / folder).glob("*")):
            rel = path.relative_to(ADDON).as_posix()
            if path.suffix in (".xml", ".csv") and rel not in listed:
                problems.append(f"{rel} is not listed in __manifest__.py data or demo")
    return listed


def check_xml_id(path, tag, model, xml_id, seen, problems):
    if "." in xml_id:
        return  # a record of another module, extended here
    if xml_id in seen:
        problems.append(f"{path}: XML id '{xml_id}' already defined in {seen[xml_id]}")
    seen[xml_id] = path
    prefixes = ("menu_",) if tag == "menuitem" else ID_PREFIXES.get(model)
    if prefixes and not xml_id.startswith(prefixes):
        problems.append(f"{path}: XML id '{xml_id}' of a {model or tag} should start with {' or '.join(prefixes)}")


def check_view_syntax(path, root, problems):
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if node.tag == "tree":
            problems.append(f"{path}:{node.sourceline}: <tree> is Odoo 16 syntax, use <list>")
        for attribute in ("attrs", "states"):
            if attribute in node.attrib and node.tag not in ("record", "field"):
                problems.append(
                    f"{path}:{node.sourceline}: '{attribute}=' was removed in Odoo 17, use invisible=/readonly="
                )


def check_xml(path, seen, problems):
    try:
        root = etree.parse(str(path)).getroot()
    except etree.XMLSyntaxError as error:
        problems.append(f"{path}: not well-formed XML: {error}")
        return
    if root.tag != "odoo":
        problems.append(f"{path}: the root element is <{root.tag}>, expected <odoo>")
    for node in root.iter("record", "template", "menuitem"):
        xml_id = node.get("id")
        if not xml_id:
            problems.append(f"{path}:{node.sourceline}: <{node.tag}> without id")
            continue
        check_xml_id(path, node.tag, node.get("model"), xml_id, seen, problems)
    for arch in root.iter("field"):
        if arch.get("name") == "arch":
            check_view_syntax(path, arch, problems)


def check_access_csv(path, models, depends, problems):
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or rows[0] != ACCESS_HEADER:
        problems.append(f"{path}: header must be {','.join(ACCESS_HEADER)}")
        return
    ids = set()
    own_model_ids = {"model_" + name.replace(".", "_") for name in models}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(ACCESS_HEADER):
            problems.append(f"{path}:{number}: {len(row)} columns, expected {len(ACCESS_HEADER)}")
            continue
        if row[0] in ids:
            problems.append(f"{path}:{number}: duplicate id {row[0]}")
        ids.add(row[0])
        model_ref = row[2]
        module, _dot, model_id = model_ref.rpartition(".")
        if module and module not in depends and module != "base":
            problems.append(f"{path}:{number}: {model_ref} belongs to {module}, which is not a dependency")
        if not module and model_id not in own_model_ids:
            problems.append(f"{path}:{number}: {model_ref} is not a model of this addon")
        if any(value not in ("0", "1") for value in row[4:]):
            problems.append(f"{path}:{number}: permissions must be 0 or 1")
    covered = {row[2] for row in rows[1:] if len(row) > 2}
    for model_id in sorted(own_model_ids - covered):
        problems.append(f"{path}: no access rule for {model_id}")


def main():
    problems = []
    manifest = load_manifest()
    listed = check_manifest_files(manifest, problems)
    seen = {}
    models = defined_models()
    checked = 0
    for rel in sorted(listed):
        path = ADDON / rel
        if not path.is_file():
            continue
        checked += 1
        if path.suffix == ".xml":
            check_xml(path, seen, problems)
        elif path.name == "ir.model.access.csv":
            check_access_csv(path, models, manifest.get("depends", []), problems)
    for problem in problems:
        sys.stdout.write(problem + "\n")
    sys.stdout.write(f"data files: {checked} checked, {len(problems)} problem(s)\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
