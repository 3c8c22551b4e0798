#!/usr/bin/env python3
"""Writes svctrace's man page from its own --help, so that the two cannot say different things.

Usage: help2roff.py SVCTRACE OUTPUT.8

Reads `SVCTRACE --help`, `SVCTRACE --version` and `SVCTRACE SUB --help` for every subcommand the help
lists, and turns them into roff: the description before "Usage:" becomes NAME and DESCRIPTION, the
Usage lines the SYNOPSIS, "Options:" OPTIONS, "Subcommands:" a COMMANDS section with each subcommand's
own options and sections (its examples, privileges, exit status), and every other "Heading:"
(Examples, Privileges, Exit status...) a section of that name.
Inside a section, an entry is a term and its text: either on one line, split by two or more spaces
("  0   traced, nothing wrong found"), or a term line followed by more indented lines (an example
command and what it does); other lines are plain paragraphs.
"""
import re
import subprocess
import sys


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def esc(text):
    """roff-escapes plain text: backslashes, hyphens (so commands copy as typed), leading dots."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text)


def parse(help_text):
    """Splits --help output into (description lines, usage line, [(heading, lines)])."""
    lines = help_text.rstrip("\n").split("\n")
    usage_at = next(i for i, l in enumerate(lines) if l.startswith("Usage: "))
    sections, current = [], None
    for line in lines[usage_at + 1:]:
        m = re.match(r"^(\S.*):$", line)
        if m:
            current = (m.group(1), [])
            sections.append(current)
        elif current is not None:
            current[1].append(line)
    return lines[:usage_at], lines[usage_at][len("Usage: "):], sections


def entries(lines):
    """Groups a section's lines into ('entry', term, text) and ('para', text) items."""
    items, i = [], 0
    indent = lambda l: len(l) - len(l.lstrip(" "))
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^ +(\S.*?)\s{2,}(\S.*)$", line)
        term, text = (m.group(1), [m.group(2)]) if m else (line.strip(), [])
        j = i + 1
        while j < len(lines) and lines[j].strip() and indent(lines[j]) > indent(line):
            text.append(lines[j].strip())
            j += 1
        if m or j > i + 1:
            items.append(("entry", term, " ".join(text)))
            i = j
        else:  # a paragraph: this line and the following ones at the same indent that are not entries
            para = [line.strip()]
            while j < len(lines) and lines[j].strip() and indent(lines[j]) == indent(line) \
                    and not re.match(r"^ +\S.*?\s{2,}\S", lines[j]) \
                    and not (j + 1 < len(lines) and indent(lines[j + 1]) > indent(line) and lines[j + 1].strip()):
                para.append(lines[j].strip())
                j += 1
            items.append(("para", " ".join(para)))
            i = j
    return items


def option_term(term):
    """'--cidr CIDR ... REQUIRED' -> bold flags, italic value names."""
    words = term.split(" ")
    flags = ", ".join(f"\\fB{esc(f)}\\fR" for f in words[0].split(","))
    rest = " ".join(words[1:])
    return flags + (f" \\fI{esc(rest)}\\fR" if rest else "")


def render_items(items, term_style):
    out = []
    for item in items:
        if item[0] == "para":
            out += [".PP", esc(item[1])]
        else:
            out += [".TP", term_style(item[1]), esc(item[2])]
    return out


def main():
    binary, output = sys.argv[1], sys.argv[2]
    version = run(binary, "--version").strip()
    description, usage, sections = parse(run(binary, "--help"))
    name = re.sub(r"^svctrace: *", "", description[0]).rstrip(".")
    prog = usage.split(" ")[0]

    bold = lambda t: f"\\fB{esc(t)}\\fR"
    synopsis = [".B " + esc(prog), esc(usage[len(prog) + 1:])]
    body = [".SH DESCRIPTION", esc(" ".join(l.strip() for l in description))]
    for heading, lines in sections:
        if heading == "Options":
            body += [".SH OPTIONS"] + render_items(entries(lines), option_term)
        elif heading == "Subcommands":
            body.append(".SH COMMANDS")
            for item in entries(lines):
                sub = item[1]
                sub_desc, sub_usage, sub_sections = parse(run(binary, sub, "--help"))
                synopsis += [".br", ".B " + esc(prog), esc(sub_usage[len(prog) + 1:])]
                body += [".SS " + esc(sub), esc(" ".join(l.strip() for l in sub_desc))]
                for sub_heading, sub_lines in sub_sections:
                    if sub_heading == "Options":
                        opts = [e for e in entries(sub_lines) if not (e[0] == "entry" and e[1].startswith("-h,"))]
                        body += render_items(opts, option_term)
                    elif sub_heading != "Positionals":  # its own examples, privileges, exit status
                        body += [".PP", f"\\fI{esc(sub_heading)}:\\fR"] + render_items(entries(sub_lines), bold)
        else:
            body += [".SH " + esc(heading.upper())] + render_items(entries(lines), bold)

    page = [
        f'.\\" Generated from `{prog} --help` by packaging/help2roff.py; edit the help text, not this file.',
        f'.TH {prog.upper()} 8 "" "{esc(version)}" "System Administration Utilities"',
        ".SH NAME",
        f"{esc(prog)} \\- {esc(name)}",
        ".SH SYNOPSIS",
    ] + synopsis + body
    with open(output, "w") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
