"""JUnit XML for CI systems: one test case per gate (fail → <failure>, inconclusive → <failure>
unless inconclusive is allowed, then <skipped>)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

__all__ = ["check_junit", "write_check_junit"]


# what XML 1.0 cannot hold, even escaped (control characters but tab and newlines, lone surrogates,
# U+FFFE/U+FFFF): ElementTree writes them raw, and every parser rejects the file
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 cannot hold written as its escape (``\\x1b``, ``\\ufffe``)."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _xml_safe(root: ET.Element) -> None:
    """Make every attribute and text of the tree under ``root`` XML 1.0 (slice values, names and
    reasons come from the user's data and suite)."""
    for element in root.iter():
        element.attrib = {_xml_text(k): _xml_text(v) for k, v in element.attrib.items()}
        if element.text:
            element.text = _xml_text(element.text)
        if element.tail:
            element.tail = _xml_text(element.tail)


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def check_junit(doc: dict[str, Any]) -> str:
    """The JUnit XML text for a check result document (``CheckResult.to_dict()``)."""
    gates = doc["gates"]
    allow = bool(doc.get("allow_inconclusive"))
    suite_name = (doc.get("suite") or {}).get("name") or "assay check"
    failures = sum(1 for g in gates if g["status"] == "fail" or (g["status"] == "inconclusive" and not allow))
    skipped = sum(1 for g in gates if g["status"] == "inconclusive" and allow)
    root = ET.Element("testsuites", name="assay", tests=str(len(gates)), failures=str(failures))
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(gates)), failures=str(failures),
                          errors="0", skipped=str(skipped), timestamp=str(doc.get("created_at") or ""))
    props = ET.SubElement(suite, "properties")
    for key, value in (("candidate", (doc.get("candidate") or {}).get("name")), ("baseline", (doc.get("baseline") or {}).get("name")),
                       ("data", (doc.get("data") or {}).get("ref")), ("seed", doc.get("seed")), ("correction", doc.get("correction"))):
        ET.SubElement(props, "property", name=key, value=str(value))
    for g in gates:
        name = g["name"] + (f" [{g['slice']}]" if g.get("slice") else "")
        case = ET.SubElement(suite, "testcase", classname=f"assay.{g.get('group', 'gate')}", name=name)
        summary = (f"{g['metric']}: candidate={_num(g.get('candidate_value'))} baseline={_num(g.get('baseline_value'))} "
                   f"delta={_num(g.get('delta'))} ci=[{_num(g.get('ci_low'))}, {_num(g.get('ci_high'))}] "
                   # both sides, as the HTML report: a failing gate's pass-side p alone read as "p=1"
                   f"p pass={_num(g.get('p_value'))} p fail (adj.)={_num(g.get('p_fail_adjusted'))} — {g.get('reason', '')}")
        if g["status"] == "fail":
            ET.SubElement(case, "failure", type="fail", message=summary).text = summary
        elif g["status"] == "inconclusive":
            if allow:
                ET.SubElement(case, "skipped", message=summary)
            else:
                ET.SubElement(case, "failure", type="inconclusive", message=summary).text = summary
        ET.SubElement(case, "system-out").text = summary
    _xml_safe(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def write_check_junit(doc: dict[str, Any], path: str | Path) -> Path:
    """Write the check result document ``doc`` as JUnit XML, one test case per gate, atomically (temp file, fsync, rename)."""
    return _atomic_write(Path(path), check_junit(doc), "JUnit file")


def _atomic_write(path: Path, text: str, what: str) -> Path:
    from assay.report._files import write_report_file

    # (its temp file is opened as open(path, "w") would be: the umask decides the report's mode)
    return write_report_file(path, text, what)
