"""Checks a wheel built by whool: named odoo_addon_sales_sequence-18.0.*, holding the addon's code, every data and
demo file the manifest lists, and its icon, under odoo/addons/sales_sequence/. Prints an abridged file list."""

import ast
import sys
import zipfile
from pathlib import Path

ADDON = Path(__file__).resolve().parent.parent
NAME = "sales_sequence"


def say(line):
    sys.stdout.write(line + "\n")


def expected_files():
    manifest = ast.literal_eval((ADDON / "__manifest__.py").read_text())
    files = {"__manifest__.py", "__init__.py", "static/description/icon.png"}
    files.update(manifest.get("data", []))
    files.update(manifest.get("demo", []))
    files.update(str(path.relative_to(ADDON)) for path in ADDON.glob("models/*.py"))
    return {f"odoo/addons/{NAME}/{name}" for name in files}


def main(paths):
    if len(paths) != 1:
        say(f"check_wheel: expected one wheel, got {paths or 'none'}")
        return 1
    wheel = Path(paths[0])
    if not wheel.name.startswith(f"odoo_addon_{NAME}-18.0"):
        say(f"check_wheel: {wheel.name} is not named odoo_addon_{NAME}-18.0.*")
        return 1
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = sorted(expected_files() - names)
    say(f"{wheel.name}: {len(names)} files")
    for name in sorted(names)[:12]:
        say(f"  {name}")
    say("  ...")
    if missing:
        say("check_wheel: missing from the wheel: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
